"""Alerts: what monitoring and escalating playbooks raise, everywhere at once.

An alert is committed to the store first, then published on the event bus (kind
``alert``) and, when the site has a broker, on ``roomctl/<site>/<room>/alerts`` with
QoS 1 (not retained: an alert is news, not state). Each alert names the fault kind, so
it links to that kind's playbook.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from drivers.errors import DeviceError

log = logging.getLogger(__name__)

ALERTS_QOS = 1  # DESIGN.md: alerts are delivered at least once


def alerts_topic(site: str, room: str) -> str:
    return f"roomctl/{site}/{room}/alerts"


class Alert(BaseModel):
    id: str
    room: str
    kind: str                   # the fault kind, which is also its playbook's id
    severity: Literal["info", "warning", "critical"]
    state: Literal["raised", "cleared"] = "raised"
    message: dict[str, str]     # en, zh
    at: datetime
    device: str | None = None
    channel: int | None = None
    source: str = "monitoring"  # monitoring, playbook
    playbook: str | None = None
    playbook_url: str | None = None  # where to run (POST) or see the playbook
    data: dict[str, Any] = {}


def new_alert_id() -> str:
    return uuid.uuid4().hex[:12]


class AlertPublisher:
    def __init__(self, controller, routine_store) -> None:
        self._controller = controller
        self._records = routine_store

    def playbook_url(self, room: str, kind: str) -> str:
        return f"/api/rooms/{room}/playbooks/{kind}"

    async def raise_alert(self, alert: Alert) -> Alert:
        """Store, then bus, then MQTT. MQTT trouble is logged, never lost silently: the alert is stored."""
        payload = alert.model_dump(mode="json")
        await self._records.save_alert(payload)
        self._controller.bus.publish("alert", room=alert.room, device=alert.device, data=payload, actor=alert.source)
        mqtt = getattr(self._controller, "mqtt", None)
        if mqtt is not None:
            try:
                mqtt.publish_nowait(alerts_topic(self._controller.config.site, alert.room),
                                    json.dumps(payload, ensure_ascii=False).encode(), qos=ALERTS_QOS)
            except DeviceError as exc:
                log.warning("alert %s not sent over MQTT: %s", alert.id, exc)
        return alert
