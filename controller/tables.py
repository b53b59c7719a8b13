"""Terminal tables of rooms and devices."""

from __future__ import annotations

from typing import Any

COLUMNS = ("room", "device", "driver", "status", "power", "input", "address", "note")


def _summary(state: dict[str, Any], key: str) -> str:
    value = state.get(key)
    return "" if value is None else str(value)


def render_rooms(rooms: list[dict[str, Any]]) -> str:
    rows = []
    for room in rooms:
        for device in room.get("devices", []):
            state = device.get("state", {})
            rows.append((room["id"], device["id"], device["driver"], device["status"], _summary(state, "power"),
                         _summary(state, "input"), device.get("address", ""), device.get("reason") or ""))
    widths = [max(len(COLUMNS[i]), *(len(r[i]) for r in rows)) if rows else len(COLUMNS[i]) for i in range(len(COLUMNS))]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(COLUMNS), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def render_status(site) -> str:
    return render_rooms([room.view() for room in site.rooms.values()])
