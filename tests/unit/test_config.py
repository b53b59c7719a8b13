"""A site config: every error reported with its place and YAML line."""

import json
import subprocess
import sys
import textwrap

import pytest

from controller.config import ConfigError, json_schema, parse_config
from drivers.registry import load_all

GOOD = """\
site: hq
rooms:
  - id: hall
    devices:
      - id: proj
        driver: pjlink
        host: 10.0.0.5
        options: {password: secret}
      - id: side
        driver: escvp21
        serial_port: /dev/ttyUSB0
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text))
    return [str(p) for p in caught.value.problems]


def test_a_good_config_loads_with_defaults():
    config = parse_config(GOOD)
    proj = config.rooms[0].devices[0]
    assert (proj.host, proj.port, proj.timeout, proj.poll_interval) == ("10.0.0.5", None, 2.0, 5.0)
    assert proj.driver_options().password.get_secret_value() == "secret"
    assert config.api.host == "127.0.0.1"  # nothing listens beyond loopback unless configured


def test_every_error_is_reported_with_its_place_and_line():
    problems = problems_of("""\
        site: hq
        rooms:
          - id: a
            devices:
              - id: p1
                driver: pjlink
                host: 10.0.0.5
          - id: b
            devices:
              - id: p1
                driver: pjlink
                host: 10.0.0.6
                port: 99999
              - id: p2
                driver: no-such-driver
              - id: p3
                driver: pjlink
                options: {passwd: x}
        """)
    assert problems == [
        "rooms[1].devices[0].port: Input should be less than or equal to 65535 (line 13)",
        "rooms[1].devices[1].driver: unknown driver 'no-such-driver'; known: " + ", ".join(sorted(load_all())) + " (line 15)",
        "rooms[1].devices[2]: a pjlink device needs a host (or simulate: true) (line 16)",
        "rooms[1].devices[2].options.passwd: unknown field (line 18)",
    ]


def test_wrong_address_kind_for_the_driver():
    problems = problems_of("""\
        site: hq
        rooms:
          - id: a
            devices:
              - {id: s, driver: escvp21, host: 10.0.0.9}
        """)
    assert problems == ["rooms[0].devices[0]: a escvp21 device needs a serial_port (or simulate: true) (line 5)"]


def test_duplicate_ids_are_refused():
    problems = problems_of("""\
        site: hq
        rooms:
          - id: a
            devices:
              - {id: p, driver: pjlink, host: h}
              - {id: p, driver: pjlink, host: h}
        """)
    assert problems == ["rooms[0].devices: device id 'p' appears twice (line 4)"]


@pytest.mark.parametrize("text, expected", [
    ("site: [unclosed\n", "not valid YAML"),
    ("- just a list\n", "a site config is a mapping"),
    ("site: hq\n", "rooms: Field required"),
    ("site: hq\nrooms: []\n", "rooms: List should have at least 1 item"),
    ("site: HQ!\nrooms: [{id: a}]\n", "site: String should match pattern"),
    ("site: hq\nrooms: [{id: a}]\napi: {host: example.com}\n", "api.host: 'example.com' is not an IP address"),
])
def test_malformed_configs(text, expected):
    assert any(expected in p for p in problems_of(text)), problems_of(text)


def test_schema_lists_the_drivers():
    schema = json_schema()
    assert schema["title"] == "roomctl site config"
    assert set(schema["$defs"]["DeviceConfig"]["properties"]["driver"]["enum"]) >= {"pjlink", "escvp21"}


def test_config_check_command_exits_2_with_places(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: hq\nrooms:\n  - id: a\n    devices:\n      - {id: p, driver: pjlink, host: h, port: 0}\n")
    result = subprocess.run([sys.executable, "-m", "controller.cli", "config", "check", str(bad)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "rooms[0].devices[0].port: Input should be greater than or equal to 1 (line 5)" in result.stderr


def test_config_check_accepts_the_demo_and_schema_is_json():
    ok = subprocess.run([sys.executable, "-m", "controller.cli", "config", "check", "configs/demo.yaml"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    schema = subprocess.run([sys.executable, "-m", "controller.cli", "config", "schema"],
                            capture_output=True, text=True, timeout=60)
    assert json.loads(schema.stdout)["type"] == "object"
