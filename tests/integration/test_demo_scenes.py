"""The demo room's scenes over projectors, audio and MQTT devices together."""

from pathlib import Path

import yaml

from controller.app import Controller
from controller.config import ConfigLoader, parse_config
from helpers import wait_until

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"


def demo(tmp_path) -> str:
    site = yaml.load(DEMO.read_text(encoding="utf-8"), Loader=ConfigLoader)
    site["api"]["port"] = 0
    site["store"] = str(tmp_path / "demo.sqlite3")
    return yaml.safe_dump(site, allow_unicode=True, sort_keys=False)


async def test_presentation_then_shutdown_in_the_demo_hall(tmp_path):
    controller = Controller(parse_config(demo(tmp_path)))
    await controller.start()
    try:
        assert not await controller.wait_until_online(20)
        result = await controller.scenes.recall("hall-a", "presentation", actor="host")
        assert result.ok, [(s.device, s.what, s.error, s.detail) for s in result.steps if not s.ok]
        devices = {s.device for s in result.steps}
        assert {"projector", "ceiling-lights", "stage-spots", "mixer"} <= devices  # PJLink, Zigbee, Tasmota, OSC
        state = lambda device: controller.site.device("hall-a", device).device.state
        await wait_until(lambda: state("projector").get("input") == "digital1", within=5, what="laptop input")
        await wait_until(lambda: state("stage-spots").get("brightness") == 90, within=5, what="spots at 90 %")

        result = await controller.scenes.recall("hall-a", "shutdown", actor="host")
        assert result.ok, [(s.device, s.what, s.error, s.detail) for s in result.steps if not s.ok]
        await wait_until(lambda: state("ceiling-lights").get("power") == "off", within=5, what="lights off")
        await wait_until(lambda: state("air-conditioning").get("hvac_mode") == "off", within=5, what="AC off")
        await wait_until(lambda: state("mixer").get("mutes", {}).get("main") is True, within=5, what="main muted")
    finally:
        await controller.stop()
