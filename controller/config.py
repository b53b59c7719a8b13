"""The site config: YAML validated into pydantic models, errors reported with their place.

A site has rooms; a room has devices. Each device names its driver; the driver's own
options model validates the device's ``options``, so a typo in a password field is a
config error with its place, not a surprise at the projector.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from controller.schedule_config import BookingConfig, ScheduleConfig
from controller.audio_config import AudioConfig
from controller.monitoring_config import MonitoringConfig, PostMeetingConfig, check_post_meeting
from controller.playbook_config import PlaybooksConfig, check_playbooks
from controller.selftest_config import SelfTestConfig
from controller.auth_config import AuthConfig, check_rooms_exist, check_token_room
from controller.tablet_config import TabletConfig, check_tablet
from controller.scene_config import CommandStep, DelayStep, SceneConfig, WaitStep, leaf_steps
from drivers import registry
from drivers.capabilities import capabilities
from kiosk.config import KioskConfig

Identifier = str  # validated by the patterns below: used in URLs and MQTT topics
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceConfig(_Model):
    id: str = Field(pattern=ID_PATTERN, description="Unique in its room; used in URLs and topics")
    driver: str = Field(description="Device protocol, e.g. pjlink, escvp21")
    name: str | None = Field(None, description="What people call it: 'Main projector'")
    # Where the device is: host/port for network devices, serial_port for RS-232.
    host: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    serial_port: str | None = Field(None, description="A device path or a pyserial URL (loop://, rfc2217://)")
    baudrate: int | None = Field(None, ge=50, le=4_000_000)
    simulate: bool = Field(False, description="Start this device's simulator in-process and talk to it")
    poll_interval: float = Field(5.0, ge=0.1, le=3600, description="Seconds between full polls")
    timeout: float = Field(2.0, ge=0.05, le=60, description="Seconds to wait for each answer")
    options: dict[str, Any] = Field(default_factory=dict, description="Driver options, e.g. password")
    simulator: dict[str, Any] = Field(
        default_factory=dict, description="With simulate: true, the simulator's options (warmup, cooldown...)"
    )
    # The equipment archive's (设备档案) entries the device cannot tell about itself.
    function: str | None = Field(None, max_length=200, description="What it is for: 'Main screen projector'")
    installed: date | None = Field(None, description="Installation date, YYYY-MM-DD")

    @field_validator("driver")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        try:
            registry.get(value)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        return value

    @model_validator(mode="after")
    def _address_fits_driver(self) -> "DeviceConfig":
        spec = registry.get(self.driver).transport_spec
        if self.simulate:
            return self
        if spec.kind in ("tcp", "udp"):
            if not self.host:
                raise ValueError(f"a {self.driver} device needs a host (or simulate: true)")
            if self.serial_port:
                raise ValueError(f"{self.driver} is a network device: give host/port, not serial_port")
        elif spec.kind == "serial":
            if not self.serial_port:
                raise ValueError(f"a {self.driver} device needs a serial_port (or simulate: true)")
            if self.host:
                raise ValueError(f"{self.driver} is a serial device: give serial_port, not host")
        elif spec.kind == "mqtt":
            if self.host or self.port or self.serial_port:
                raise ValueError(f"{self.driver} is reached on the site's MQTT broker (mqtt:); its topic is in options")
        return self

    def driver_options(self) -> BaseModel:
        return registry.get(self.driver).Options.model_validate(self.options)


class RoomConfig(_Model):
    id: str = Field(pattern=ID_PATTERN)
    name: str | None = None
    devices: list[DeviceConfig] = Field(default_factory=list)
    scenes: dict[Annotated[str, Field(pattern=ID_PATTERN)], SceneConfig] = Field(
        default_factory=dict, description="Scenes by id: presentation, video-call, break, shutdown..."
    )
    selftest: SelfTestConfig = Field(default_factory=SelfTestConfig, description="Self-test thresholds")
    audio: AudioConfig = Field(default_factory=AudioConfig, description="Mics, their mixer inputs, spares")

    @model_validator(mode="after")
    def _audio_fits_devices(self) -> "RoomConfig":
        from drivers.capabilities.audio import HasFaders, HasPhantom, HasScenes, HasWirelessChannels

        devices = {d.id: registry.get(d.driver) for d in self.devices}

        def need(device_id: str | None, capability, where: str) -> None:
            if device_id is None:
                return
            if device_id not in devices:
                raise ValueError(f"{where}: no device {device_id!r} in room {self.id}")
            if not issubclass(devices[device_id], capability):
                raise ValueError(f"{where}: {device_id} ({devices[device_id].driver}) has no {capability.name} capability")

        seen = set()
        for i, mic in enumerate(self.audio.mics):
            need(mic.receiver, HasWirelessChannels, f"audio.mics[{i}].receiver")
            need(mic.mixer, HasFaders, f"audio.mics[{i}].mixer")
            if (mic.receiver, mic.channel) in seen:
                raise ValueError(f"audio.mics[{i}]: {mic.receiver} channel {mic.channel} is listed twice")
            seen.add((mic.receiver, mic.channel))
        if self.audio.baseline_scene is not None:
            if self.audio.mixer is None:
                raise ValueError("audio.baseline_scene needs audio.mixer")
            need(self.audio.mixer, HasScenes, "audio.mixer")
        if self.audio.phantom:
            if self.audio.mixer is None:
                raise ValueError("audio.phantom needs audio.mixer")
            need(self.audio.mixer, HasPhantom, "audio.mixer")
        return self
    bookings: list[BookingConfig] = Field(default_factory=list, description="Meetings booked in this room")
    ics: list[str] = Field(default_factory=list, description="iCalendar files of bookings; relative to the config file")
    # The technician's routines during and after the meeting (controller/playbooks.py, monitoring.py, post_meeting.py).
    playbooks: PlaybooksConfig = Field(default_factory=PlaybooksConfig, description="Fault playbooks (预案) and escalation")
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig, description="What the meeting's patrol watches")
    post_meeting: PostMeetingConfig = Field(default_factory=PostMeetingConfig, description="After the meeting")
    tablet: TabletConfig = Field(default_factory=TabletConfig, description="The room's tablet: scenes, safe ranges")

    @model_validator(mode="after")
    def _tablet_fits_room(self) -> "RoomConfig":
        check_tablet(self, {d.id: registry.get(d.driver) for d in self.devices})
        return self

    @model_validator(mode="after")
    def _routines_fit_devices(self) -> "RoomConfig":
        """A playbook or baseline that names a missing device, capability or scene is an error with its place."""
        devices = {d.id: registry.get(d.driver) for d in self.devices}
        check_playbooks(self, devices)
        check_post_meeting(self, devices)
        return self

    @model_validator(mode="after")
    def _scenes_fit_devices(self) -> "RoomConfig":
        """A scene may only use this room's devices, through capabilities their drivers have."""
        devices = {d.id: registry.get(d.driver) for d in self.devices}
        for scene_id, scene in self.scenes.items():
            for place, step in leaf_steps(scene):
                where = f"scenes.{scene_id}." + _place(place)
                if isinstance(step, DelayStep):
                    continue
                device_id = step.device if isinstance(step, CommandStep) else step.wait.device
                if device_id not in devices:
                    raise ValueError(f"{where}: no device {device_id!r} in room {self.id}")
                driver = devices[device_id]
                if isinstance(step, CommandStep) and not issubclass(driver, step.command.capability):
                    raise ValueError(f"{where}: {device_id} ({driver.driver}) has no {step.command.capability.name} "
                                     f"capability for {step.command.type}")
                if isinstance(step, WaitStep):
                    keys = {key for name, cap in capabilities().items() if issubclass(driver, cap) for key in cap.state_keys}
                    if step.wait.state not in keys:
                        raise ValueError(f"{where}: {device_id} ({driver.driver}) reports no {step.wait.state!r}; "
                                         f"it reports {', '.join(sorted(keys))}")
        return self

    @field_validator("devices")
    @classmethod
    def _unique_devices(cls, devices: list[DeviceConfig]) -> list[DeviceConfig]:
        _no_duplicates([d.id for d in devices], "device id")
        return devices


class TokenConfig(_Model):
    name: str = Field(description="Who holds it, for the event log")
    token: SecretStr = Field(min_length=16, description="Bearer token, at least 16 characters")
    role: str = Field("technician", pattern=r"^(kiosk|staff|tablet|technician|admin)$")  # staff: the sign-in desk's staff page
    room: str | None = Field(None, pattern=ID_PATTERN, description="tablet: the one room this token controls")

    @model_validator(mode="after")
    def _room_for_tablets(self) -> "TokenConfig":
        check_token_room(self.role, self.room)
        return self


class ApiConfig(_Model):
    host: str = Field("127.0.0.1", description="Listen address; nothing beyond loopback unless set here")
    port: int = Field(8080, ge=0, le=65535)
    tokens: list[TokenConfig] = Field(default_factory=list)
    auth: AuthConfig = Field(default_factory=AuthConfig, description="PIN users, sessions, origins, anonymous reads")

    @field_validator("host")
    @classmethod
    def _an_address(cls, value: str) -> str:
        if value != "localhost":
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(f"{value!r} is not an IP address to listen on") from None
        return value


class ClockConfig(_Model):
    speed: float = Field(1.0, gt=0, le=3600, description="Simulated seconds per real second (demo, tests)")


class MqttConfig(_Model):
    """The site's MQTT broker. Without a host, roomctl runs its own (embedded) on 127.0.0.1."""

    host: str | None = Field(None, description="A broker to use (Mosquitto, a cluster); none: the embedded one")
    port: int | None = Field(None, ge=1, le=65535, description="Default 1883, or 8883 with tls")
    username: str | None = Field(None, min_length=1)
    password: SecretStr | None = None
    tls: bool = Field(False, description="Connect with TLS (verify the broker's certificate)")
    ca_file: str | None = Field(None, description="CA certificate (PEM) that signed the broker's; none: the system's")
    client_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,23}$", description="Default: roomctl-<site>")
    embedded_port: int = Field(0, ge=0, le=65535, description="The embedded broker's port; 0: a free one")
    embedded: bool = Field(False, description="Start the embedded broker even when no device needs MQTT")

    @model_validator(mode="after")
    def _consistent(self) -> "MqttConfig":
        if self.host is None and (self.port or self.username or self.password or self.tls or self.ca_file):
            raise ValueError("port, username, password, tls and ca_file are for a broker named by host")
        if self.password is not None and self.username is None:
            raise ValueError("a password needs a username")
        if self.ca_file is not None and not self.tls:
            raise ValueError("ca_file is for tls: true")
        return self

    @property
    def external(self) -> bool:
        return self.host is not None


class SiteConfig(_Model):
    site: str = Field(pattern=ID_PATTERN, description="Site id, used in MQTT topics")
    name: str | None = None
    api: ApiConfig = Field(default_factory=ApiConfig)
    store: str = Field("roomctl.sqlite3", description="SQLite file for the event log; relative to the config file")
    clock: ClockConfig = Field(default_factory=ClockConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    rooms: list[RoomConfig] = Field(min_length=1)
    kiosk: KioskConfig | None = Field(None, description="This machine is a check-in desk (签到台)")
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig, description="Timezone and the routine's offsets")

    @field_validator("rooms")
    @classmethod
    def _unique_rooms(cls, rooms: list[RoomConfig]) -> list[RoomConfig]:
        _no_duplicates([r.id for r in rooms], "room id")
        return rooms

    @model_validator(mode="after")
    def _auth_rooms_exist(self) -> "SiteConfig":
        check_rooms_exist(self)
        return self

    def uses_mqtt(self) -> bool:
        """Some device rides on MQTT, or the config asks for the broker anyway."""
        return self.mqtt.embedded or self.mqtt.external or any(
            registry.get(d.driver).transport_spec.kind == "mqtt" for r in self.rooms for d in r.devices
        ) or (self.kiosk is not None and self.kiosk.sync)  # kiosks replicate check-ins over the broker

    def room(self, room_id: str) -> RoomConfig:
        for room in self.rooms:
            if room.id == room_id:
                return room
        raise KeyError(room_id)


def _no_duplicates(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            raise ValueError(f"{what} {value!r} appears twice")
        seen.add(value)


# --- loading with places ----------------------------------------------------------------


@dataclass(frozen=True)
class ConfigProblem:
    place: str  # rooms[1].devices[0].port
    message: str
    line: int | None  # 1-based YAML line, where known

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{self.place or '<top>'}: {self.message}{where}"


class ConfigError(Exception):
    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        super().__init__(f"{source}: {len(problems)} problem(s)")
        self.source = source
        self.problems = problems

    def report(self) -> str:
        return "\n".join([f"{self.source}: invalid config"] + [f"  {p}" for p in self.problems])


def load_config(path: str | Path) -> SiteConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [ConfigProblem("", f"cannot read: {exc}", None)]) from None
    config = parse_config(text, source=str(path), base_dir=path.parent)
    if not Path(config.store).is_absolute() and config.store != ":memory:":
        config = config.model_copy(update={"store": str(path.parent / config.store)})
    return config


class ConfigLoader(yaml.SafeLoader):
    """YAML with 1.2's booleans: only true/false. Under YAML 1.1 `on`, `off`, `yes` and `no`
    are booleans too, so `{type: power, on: true}` would lose its `on` key and a scene's
    `equals: on` would compare with True."""


ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def parse_config(text: str, *, source: str = "<config>", base_dir: Path | None = None) -> SiteConfig:
    try:
        node = yaml.compose(text, Loader=ConfigLoader)
        data = yaml.load(text, Loader=ConfigLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(source, [ConfigProblem("", f"not valid YAML: {getattr(exc, 'problem', exc)}", line)]) from None
    if not isinstance(data, dict):
        raise ConfigError(source, [ConfigProblem("", "a site config is a mapping with site: and rooms:", 1)])
    lines = _lines_by_place(node)
    errors: list[tuple[tuple, dict]] = []
    config = None
    try:
        config = SiteConfig.model_validate(data)
    except ValidationError as exc:
        errors += [(error["loc"], error) for error in exc.errors(include_url=False)]
    # Each driver's options have their own schema; check them even when other parts failed.
    for r, room in enumerate(data.get("rooms") or []):
        for d, device in enumerate((room or {}).get("devices") or [] if isinstance(room, dict) else []):
            if not isinstance(device, dict) or not isinstance(device.get("options", {}), dict):
                continue
            try:
                registry.get(device.get("driver")).Options.model_validate(device.get("options", {}))
            except (KeyError, TypeError):
                pass  # an unknown driver is reported at its own place
            except ValidationError as exc:
                prefix = ("rooms", r, "devices", d, "options")
                errors += [(prefix + error["loc"], error) for error in exc.errors(include_url=False)]
    if errors:
        problems = [ConfigProblem(_place(loc), _message(error), _nearest_line(lines, loc)) for loc, error in errors]
        raise ConfigError(source, problems)
    # Bookings need the whole site (its timezone) and the ICS files beside the config: checked last.
    from controller.bookings import check_bookings

    return check_bookings(config, source=source, base_dir=base_dir, line_of=lambda loc: _nearest_line(lines, loc))


def _place(loc: tuple) -> str:
    place = ""
    for part in loc:
        if isinstance(part, str) and part.endswith("Step") and part[:1].isupper():
            continue  # the scene step kind pydantic names in its path: the place says enough
        if isinstance(part, int):
            place += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            place += f".{part}" if place else str(part)
        else:
            place += f"[{part!r}]"  # union tags and odd keys
    return place


def _message(error: dict) -> str:
    message = error["msg"]
    ctx = error.get("ctx") or {}
    if isinstance(ctx.get("error"), KeyError):
        message = str(ctx["error"].args[0])
    elif message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    return message


def _lines_by_place(node: yaml.Node | None) -> dict[tuple, int]:
    lines: dict[tuple, int] = {}

    def walk(n: yaml.Node, loc: tuple) -> None:
        lines[loc] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                k = key.value
                lines[loc + (k,)] = key.start_mark.line + 1
                walk(value, loc + (k,))
                lines[loc + (k,)] = key.start_mark.line + 1
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                walk(item, loc + (i,))

    if node is not None:
        walk(node, ())
    return lines


def _nearest_line(lines: dict[tuple, int], loc: tuple) -> int | None:
    loc = tuple(part for part in loc if not (isinstance(part, str) and part.startswith("function-")))
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def json_schema() -> dict:
    schema = SiteConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "roomctl site config"
    drivers = sorted(registry.load_all())
    schema["$defs"]["DeviceConfig"]["properties"]["driver"]["enum"] = drivers
    return schema
