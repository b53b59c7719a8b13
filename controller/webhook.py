"""Telling the project office: an escalation POSTed as JSON to the URL the room's config gives.

The POST has its own timeout; a project office that does not answer is recorded as
such in the playbook run (the alert is on the bus and MQTT anyway), never waited on.
"""

from __future__ import annotations

import time
from typing import Any

USER_AGENT = "roomctl-escalation/1"


async def post_escalation(url: str, payload: dict[str, Any], *, timeout: float) -> dict[str, Any]:
    """POST ``payload``; return what happened: {url, status, ok, took_ms} or {url, ok: False, error}."""
    import httpx  # here, not at start: a venue that never escalates keeps its ~10 MB

    began = time.monotonic()
    result: dict[str, Any] = {"url": url}
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            response = await client.post(url, json=payload, headers={"User-Agent": USER_AGENT})
        result.update(status=response.status_code, ok=response.is_success)
    except httpx.HTTPError as exc:
        result.update(ok=False, error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    result["took_ms"] = round((time.monotonic() - began) * 1000, 1)
    return result
