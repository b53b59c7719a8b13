"""Incremental framers: feed bytes in any chunking, get whole frames out."""

from __future__ import annotations

from drivers.errors import ProtocolError


class LineFramer:
    """Frames ended by a terminator (PJLink: a bare CR). The terminator is stripped.

    A peer that sends more than ``max_frame`` bytes without a terminator is broken or
    hostile: the framer raises instead of buffering without bound.
    """

    def __init__(self, terminator: bytes = b"\r", *, max_frame: int = 1024) -> None:
        self._terminator = terminator
        self._max_frame = max_frame
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames: list[bytes] = []
        while (end := self._buffer.find(self._terminator)) >= 0:
            frames.append(bytes(self._buffer[:end]))
            del self._buffer[: end + len(self._terminator)]
        if len(self._buffer) > self._max_frame:
            overflow = bytes(self._buffer[:80])
            self._buffer.clear()
            raise ProtocolError(f"frame longer than {self._max_frame} bytes", overflow)
        return frames

    def reset(self) -> None:
        self._buffer.clear()

    @property
    def pending(self) -> bytes:
        """Bytes of a frame begun but not finished."""
        return bytes(self._buffer)
