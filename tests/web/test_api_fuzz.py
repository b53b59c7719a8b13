"""No request, however malformed, gets a 5xx, and every answer fits the schema: schemathesis
generates requests — valid and invalid (negative mode) — for every operation in the live
OpenAPI schema, against a running controller on simulators, with a technician's token (an
organiser's on the check-in desk's API, which no technician may use), and checks each answer
against the response schema its status documents.

Path parameters are also the venue's real ids (room, device, scene), so requests reach
past "no such room" into the handlers. The venue's timeouts are short so that what a real
request starts (a self-test, a playbook waiting for a technician) ends within the run.
Bounded: ``MAX_EXAMPLES`` per operation, no shrinking, derandomized — about a minute.
"""

from __future__ import annotations

import asyncio
import textwrap
import threading

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import response_schema_conformance
from schemathesis.core.failures import FailureGroup

from controller.app import Controller
from controller.config import parse_config
from sites import TOKENS

MAX_EXAMPLES = 30  # per operation, over its positive, negative and real-id strategies
REQUEST_TIMEOUT = 30.0  # s: every answer comes in milliseconds, a scene recall in seconds
START_TIMEOUT = 30.0

FUZZ_SITE = """\
site: fuzz
store: {store}
api:
  port: 0
  tokens: [{{name: fuzzer, token: {token}, role: technician}}, {{name: desk fuzzer, token: {desk_token}, role: admin}}]
rooms:
  - id: hall
    selftest:
      thresholds: {{speak_within: 0.3, power_on_within: 3, reconnect_wait: 0.5, check_timeout: 5}}
    playbooks: {{confirm_timeout: 0.5}}
    post_meeting: {{damage_check_timeout: 0.5, switch_off_within: 2}}
    devices:
      - {{id: proj, driver: pjlink, simulate: true, timeout: 0.5, poll_interval: 0.3, simulator: {{warmup: 0.1, cooldown: 0.1}}}}
      - {{id: mics, driver: shure, simulate: true, timeout: 0.5, simulator: {{model: ULXD4D}}}}
      - {{id: mixer, driver: xair, simulate: true, timeout: 0.5, options: {{channels: 4}}, simulator: {{inputs: {{1: mics/1}}}}}}
    audio:
      mixer: mixer
      mics: [{{name: Chair, receiver: mics, channel: 1, mixer: mixer, input: 1}}]
    scenes:
      presentation:
        steps: [{{device: proj, command: {{type: power, "on": true}}}}, {{device: mixer, command: {{type: fader, channel: main, db: -10}}}}]
kiosk: {{id: desk-1, event: 1, supervisor_pin: "135790", sync: false}}
"""
REAL = {"room_id": ["hall"], "device_id": ["proj", "mics", "mixer"], "scene_id": ["presentation"]}


class ControllerThread:
    """The controller on its own event loop in a thread: schemathesis calls it synchronously."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="controller under fuzz", daemon=True)
        self.controller: Controller | None = None

    def start(self) -> str:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(START_TIMEOUT)
        return self.controller.url

    async def _start(self) -> None:
        self.controller = Controller(parse_config(self.text))
        await self.controller.start()
        missing = await self.controller.wait_until_online(START_TIMEOUT / 2)
        assert not missing, missing

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.controller.stop(), self.loop).result(START_TIMEOUT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(START_TIMEOUT)
        self.loop.close()


@pytest.fixture(scope="module")
def live_api(tmp_path_factory):
    store = tmp_path_factory.mktemp("fuzz") / "fuzz.sqlite3"
    running = ControllerThread(textwrap.dedent(FUZZ_SITE.format(store=store, token=TOKENS["technician"],
                                                                desk_token=TOKENS["admin"])))
    url = running.start()
    yield url
    running.stop()


def test_no_request_however_malformed_gets_a_server_error_or_an_answer_off_its_schema(live_api):
    schema = schemathesis.openapi.from_url(f"{live_api}/openapi.json")
    technician = {"Authorization": f"Bearer {TOKENS['technician']}"}
    organiser = {"Authorization": f"Bearer {TOKENS['admin']}"}  # only on the desk's API (kiosk/web.py)
    failures: list[str] = []
    off_schema: dict[str, str] = {}  # one example per operation and status
    statuses: dict[int, int] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40  # every page action is in the schema

    for operation in operations:
        headers = organiser if operation.path.startswith("/api/kiosk/") else technician
        params = {p.name for p in operation.path_parameters}
        real = {name: values[0] for name, values in REAL.items() if name in params}
        strategies = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
        if real:  # past "no such room", into the handlers
            strategies += [operation.as_strategy(GenerationMode.POSITIVE, path_parameters=real),
                           operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=real)]

        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        @given(case=st.one_of(strategies))
        def no_server_error(case) -> None:
            response = case.call(base_url=live_api, headers=headers, timeout=REQUEST_TIMEOUT)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} → {response.status_code}: "
                                f"{response.text[:200]}\n  {case.as_curl_command()}")
                return
            try:
                case.validate_response(response, checks=[response_schema_conformance])
            except FailureGroup as group:
                off_schema.setdefault(f"{case.method} {operation.path} → {response.status_code}",
                                      f"{group.exceptions[0].title}: {response.text[:300]}")

        no_server_error()
    assert failures == [], "\n".join(failures[:20])
    assert off_schema == {}, "\n".join(f"{where}: {what}" for where, what in off_schema.items())
    assert sum(statuses.values()) > 20 * len(operations) and statuses.get(200, 0) > 0, statuses
