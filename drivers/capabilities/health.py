"""Reachability of a network service: the video terminal, the conference server."""

from __future__ import annotations

from drivers.capabilities.base import Capability, StateModel


class Health(StateModel):
    ok: bool
    latency_ms: float | None = None
    detail: str | None = None  # "HTTP 200", "TCP connect", the failure


class HasHealth(Capability):
    name = "health"
    state_keys = ("health",)
