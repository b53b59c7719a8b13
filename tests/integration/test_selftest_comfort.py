"""Self-test of lights and climate on MQTT simulators (embedded broker)."""

import pytest

from controller.app import Controller
from controller.checks import Verdict
from controller.config import parse_config
from helpers import wait_until

SITE = """\
site: comfort
api: {{port: 0}}
store: {store}
rooms:
  - id: hall
    selftest:
      thresholds: {{reconnect_wait: 3, climate_rate_c_per_minute: 0.15, climate_lead_minutes: 30}}
    devices:
      - {{id: ceiling, name: Ceiling lights, driver: z2m_light, simulate: true, timeout: 1, poll_interval: 1,
         options: {{friendly_name: hall/ceiling}}}}
      - {{id: stat, name: Thermostat, driver: z2m_thermostat, simulate: true, timeout: 1, poll_interval: 1,
         options: {{friendly_name: hall/stat}}, simulator: {{temperature: {temperature}, outside: 31}}}}
"""


async def run(tmp_path, temperature, fault=None):
    controller = Controller(parse_config(SITE.format(store=tmp_path / "c.sqlite3", temperature=temperature)))
    await controller.start()
    try:
        assert not await controller.wait_until_online(15)
        if fault:
            sim = next(s for s in controller.simulators if "z2m_light" in (s.protocol, *s.drivers))
            sim.inject(fault, device="hall/ceiling")
        stat = controller.site.device("hall", "stat").device
        await wait_until(lambda: stat.state.get("temperature") is not None, within=5, what="a temperature")
        report = await controller.selftest.run("hall")
        return {(r.device, r.check): r for r in report.results}
    finally:
        await controller.stop()


async def test_lights_confirm_and_a_room_near_the_band_passes(tmp_path):
    results = await run(tmp_path, temperature=25)
    assert results[("ceiling", "lights_respond")].verdict is Verdict.PASS
    climate = results[("stat", "climate_in_band")]
    assert climate.verdict is Verdict.PASS and "min to band" in climate.measured
    assert climate.tried == [{"en": "set the setpoint to 23 °C", "zh": "设定温度 23 °C"}]


async def test_a_hot_room_that_cannot_cool_in_time_fails_with_its_playbook(tmp_path):
    results = await run(tmp_path, temperature=30)
    climate = results[("stat", "climate_in_band")]
    assert climate.verdict is Verdict.FAIL
    assert climate.playbook == "climate-not-reaching-target"
    assert "needs about 40 min" in climate.problem["en"]


async def test_a_light_that_ignores_commands_fails(tmp_path):
    results = await run(tmp_path, temperature=23, fault="no_reply")  # commands and reads ignored
    lights = results[("ceiling", "lights_respond")]
    assert lights.verdict is Verdict.FAIL
    assert lights.problem["en"] == "the light did not confirm the change"
