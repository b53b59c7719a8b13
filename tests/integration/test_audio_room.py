"""A simulated room with a wireless receiver wired into a mixer, as the demo site has it:
the technician speaks into mic 2 and the mixer's channel 2 meter moves."""

import pytest

from controller.app import Controller
from controller.config import parse_config
from drivers.status import Status
from helpers import wait_until

ROOM = """
site: audio-test
store: {store}
rooms:
  - id: hall
    devices:
      - id: mics
        driver: shure
        simulate: true
        timeout: 0.5
        options: {{metering: false}}
        simulator: {{model: ULXD4D}}
      - id: mixer
        driver: xair
        simulate: true
        timeout: 0.5
        options: {{channels: 4, meter_interval: 0.05}}
        simulator:
          inputs: {{1: mics/1, 2: mics/2}}
"""


@pytest.fixture
async def audio_room(tmp_path):
    config = parse_config(ROOM.format(store=tmp_path / "events.sqlite3"))
    controller = Controller(config, serve_api=False)
    await controller.start()
    yield controller
    await controller.stop()


async def test_speaking_into_a_mic_moves_the_wired_mixer_channel(audio_room):
    site = audio_room.site
    mixer = site.device("hall", "mixer")
    await wait_until(lambda: all(d.supervisor.status is Status.ONLINE for d in site.devices()), within=5,
                     what="the room online")
    receiver_sim = next(s for s in audio_room.simulators if s.protocol == "shure")
    await wait_until(lambda: mixer.device.state.get("levels", {}).get(2) is not None, within=3, what="meters")
    assert mixer.device.state["levels"][2] <= -50
    receiver_sim.talk(2, level_dbfs=-18)
    await wait_until(lambda: mixer.device.state["levels"][2] > -30, within=3, what="channel 2 moves")
    assert mixer.device.state["levels"][1] <= -50


def test_wiring_to_something_that_is_not_a_receiver_channel_is_refused():
    from controller.simulation import wire_audio_inputs

    config = parse_config(ROOM.format(store="x.sqlite3").replace("mics/2", "mixer/2"))

    class Mixer:
        def connect_input(self, channel, source):
            pass

    with pytest.raises(ValueError, match="not a simulated receiver channel"):
        wire_audio_inputs(config, {"hall/mixer": Mixer(), "hall/mics": object()})
