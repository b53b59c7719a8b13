"""Bad input from the network, as a typed error with a kind, counted and logged once per kind.

A receiver or mixer that sends a line or packet we cannot read is not a reason to
drop it: the bad message is counted under its kind ("not bracketed", "blob size"),
the first of each kind is logged, and the driver carries on with the next one.
"""

from __future__ import annotations

import collections
import logging

from drivers.errors import ProtocolError


class Malformed(ProtocolError):
    """Input that does not follow the protocol; ``kind`` is a fixed name to count it by."""

    def __init__(self, kind: str, detail: str, frame: bytes | None = None) -> None:
        super().__init__(f"{kind}: {detail}", frame)
        self.kind = kind
        self.detail = detail


class MalformedLog:
    def __init__(self, logger: logging.Logger, name: str) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self._logger = logger
        self._name = name

    def note(self, exc: ProtocolError) -> None:
        kind = getattr(exc, "kind", None) or exc.reason
        self.counts[kind] += 1
        if self.counts[kind] == 1:
            self._logger.warning("%s: ignored bad input (%s): %s", self._name, kind, exc)

    @property
    def total(self) -> int:
        return sum(self.counts.values())
