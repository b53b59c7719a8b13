"""The demo site through a meeting's whole timeline, under an accelerated clock.

A booking is added to Hall A; the controller's scheduler then runs the technician's
routine on the simulators: the T-60 self-test, the climate start, the second check of
lights and sound, the T-30 Ready scene, the T-20 reminder, monitoring during the
meeting and the post-meeting routine at its end — each step in order.
"""

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from controller.app import Controller
from controller.config import ConfigLoader, parse_config

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"
SPEED = 600  # ten simulated minutes a real second
IN_ORDER = ["selftest", "climate", "recheck", "ready", "reminder", "monitor_start", "monitor_stop", "post_meeting"]


def demo_with_a_booking(tmp_path, start: datetime) -> str:
    site = yaml.load(DEMO.read_text(encoding="utf-8"), Loader=ConfigLoader)
    site["api"]["port"] = 0
    site["store"] = str(tmp_path / "day.sqlite3")
    site["clock"] = {"speed": SPEED}
    site["rooms"][0]["bookings"] = [{
        "id": "board", "title": "Board meeting", "start": start.isoformat(),
        "end": (start + timedelta(minutes=60)).isoformat(), "attendees": 12,
    }]
    return yaml.safe_dump(site, allow_unicode=True, sort_keys=False)


async def test_the_demo_rooms_whole_day_runs_in_order(tmp_path):
    # The booking starts 80 simulated minutes after the controller's clock starts.
    start = (datetime.now().astimezone() + timedelta(minutes=80)).replace(microsecond=0)
    controller = Controller(parse_config(demo_with_a_booking(tmp_path, start)))
    seen: list[tuple[str, str]] = []
    with controller.bus.subscribe(limit=10_000) as events:
        await controller.start()
        try:
            async def until_post_meeting():
                while True:
                    event = await events.get()
                    if event.kind == "schedule" and event.room == "hall-a" and event.data["booking"] == "board":
                        seen.append((event.data["step"], event.data["event"]))
                        if event.data["step"] == "post_meeting" and event.data["event"] in ("done", "failed"):
                            return

            # 80 simulated minutes to the meeting, 60 of meeting: about 14 real seconds at 600x.
            await asyncio.wait_for(until_post_meeting(), 90)
            reports = await controller.store.selftests(room="hall-a")
        finally:
            await controller.stop()
    done = [step for step, event in seen if event == "done"]
    assert [step for step in IN_ORDER if step in done] == IN_ORDER, seen
    assert not [s for s in seen if s[1] == "failed"], seen
    assert reports and reports[-1]["ready"]  # the T-60 self-test of the demo room passed
