"""A room's tablet: its scenes and the few controls a meeting's host may turn — master
volume, mic mutes by name, the display's input, light levels, the setpoint — each kept
inside the room's ``tablet:`` ranges before a typed command goes to a device.

The tablet finds its devices by capability (the mixer of ``audio.mixer``, the first
device with inputs, every light with brightness, the first unit with a setpoint) unless
the room's ``tablet:`` section names them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from controller.auth import Caller
from controller.scene_config import leaf_steps
from drivers.capabilities import (HasBrightness, HasChannelMute, HasFaders, HasInputs, HasPower, HasSetpoint,
                                  HasTemperature, HasWirelessChannels, SelectInput, SetBrightness, SetChannelMute,
                                  SetFader, SetSetpoint)
from drivers.capabilities.av import InputName
from drivers.errors import DeviceError
from drivers.status import Status

# The tablet's volume slider moves in whole dB: finer steps mean nothing to a host's ear.
VOLUME_STEP_DB = 1.0
# A scene's recall leaves a handful of step events after its start; the last start or end is within these.
LAST_SCENE_LOOKBACK = 50


# --- what the tablet shows ---------------------------------------------------------------------


class SceneButton(BaseModel):
    id: str
    name: str
    steps: int = Field(description="Steps the scene runs: its progress counts them")


class VolumeView(BaseModel):
    device: str
    min_db: float
    max_db: float
    step_db: float
    db: float | None = Field(description="The master fader now; None when unknown or fully down")
    muted: bool | None
    online: bool


class MicView(BaseModel):
    name: str
    muted: bool | None
    on: bool | None = Field(description="Its transmitter is switched on")
    battery_bars: int | None
    online: bool


class InputOption(BaseModel):
    id: str
    label: str


class InputView(BaseModel):
    device: str
    name: str
    options: list[InputOption]
    current: str | None
    power: str | None
    online: bool


class LightView(BaseModel):
    device: str
    name: str
    percent: int | None
    online: bool


class ClimateView(BaseModel):
    device: str
    name: str
    min_c: float
    max_c: float
    step_c: float
    setpoint: float | None
    temperature: float | None
    online: bool


class DeviceGlance(BaseModel):
    id: str
    name: str
    status: str


class LastScene(BaseModel):
    scene: str
    ok: bool | None
    at: datetime
    by: str | None


class TabletView(BaseModel):
    room: str
    name: str
    status: str = Field(description="ok, starting or attention: the room's devices at a glance")
    scenes: list[SceneButton]
    volume: VolumeView | None
    mics: list[MicView]
    inputs: InputView | None
    lights: list[LightView]
    climate: ClimateView | None
    devices: list[DeviceGlance]
    last_scene: LastScene | None


# --- what the tablet may do --------------------------------------------------------------------


class _Control(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VolumeControl(_Control):
    control: Literal["volume"]
    db: float = Field(ge=-90, le=10, description="Master volume; must be inside the room's tablet.volume_db")


class MasterMuteControl(_Control):
    control: Literal["master_mute"]
    muted: bool


class MicMuteControl(_Control):
    control: Literal["mic_mute"]
    mic: str = Field(min_length=1, max_length=100, description="A mic's name from the room's tablet.mics")
    muted: bool


class InputControl(_Control):
    control: Literal["input"]
    input: InputName


class LightControl(_Control):
    control: Literal["light"]
    device: str = Field(min_length=1, max_length=64)
    percent: int = Field(ge=0, le=100)


class SetpointControl(_Control):
    control: Literal["setpoint"]
    celsius: float = Field(ge=5, le=35, description="Must be inside the room's tablet.setpoint_c")


TabletControl = Annotated[Union[VolumeControl, MasterMuteControl, MicMuteControl, InputControl, LightControl,
                                SetpointControl], Field(discriminator="control")]


class ControlResult(BaseModel):
    ok: bool
    control: str
    device: str
    command: dict[str, Any]


class ControlError(BaseModel):
    error: str
    message: str
    field: str | None = None


class OutOfRange(Exception):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class NotOnTablet(Exception):
    """The room has no such control for its tablet (no mixer, no mic of that name...)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


# --- the room's tablet --------------------------------------------------------------------------


def tablet_scene_ids(room_config) -> list[str]:
    return list(room_config.tablet.scenes) if room_config.tablet.scenes is not None else list(room_config.scenes)


class RoomTablet:
    """The tablet controls of one room, resolved against its running devices."""

    def __init__(self, controller, room_id: str) -> None:
        self.controller = controller
        self.room_id = room_id
        self.config = controller.config.room(room_id)
        self.runtime = controller.site.rooms[room_id]

    # --- the devices behind each control ------------------------------------------------------

    def _device(self, device_id: str | None, capability):
        runtime = self.runtime.devices.get(device_id) if device_id else None
        return runtime if runtime is not None and isinstance(runtime.device, capability) else None

    def _first(self, capability):
        return next((d for d in self.runtime.devices.values() if isinstance(d.device, capability)), None)

    def mixer(self):
        return self._device(self.config.audio.mixer, HasFaders)

    def display(self):
        return self._device(self.config.tablet.display, HasInputs) if self.config.tablet.display else self._first(HasInputs)

    def climate(self):
        return self._device(self.config.tablet.climate, HasSetpoint) if self.config.tablet.climate else \
            self._first(HasSetpoint)

    def lights(self) -> list:
        ids = self.config.tablet.lights
        if ids is None:
            return [d for d in self.runtime.devices.values() if isinstance(d.device, HasBrightness)]
        return [d for d in (self._device(i, HasBrightness) for i in ids) if d is not None]

    def mics(self) -> list:
        names = self.config.tablet.mics
        mics = self.config.audio.mics
        return [m for m in mics if not m.spare] if names is None else [m for n in names for m in mics if m.name == n]

    def setpoint_band(self, unit) -> tuple[float, float, float]:
        low, high = self.config.tablet.setpoint_c
        allowed = unit.device.setpoint_range()
        return max(low, allowed.minimum), min(high, allowed.maximum), allowed.step

    def input_options(self, display) -> list[InputOption]:
        if self.config.tablet.inputs:
            return [InputOption(id=i, label=label) for i, label in self.config.tablet.inputs.items()]
        return [InputOption(id=i, label=i) for i in display.device.available_inputs()]

    # --- the view ----------------------------------------------------------------------------

    async def view(self) -> TabletView:
        scenes = self.config.scenes
        buttons = [SceneButton(id=s, name=scenes[s].name or s, steps=sum(1 for _ in leaf_steps(scenes[s])))
                   for s in tablet_scene_ids(self.config)]
        return TabletView(
            room=self.room_id, name=self.runtime.name, status=self.runtime.status(), scenes=buttons,
            volume=self._volume_view(), mics=[self._mic_view(m) for m in self.mics()], inputs=self._input_view(),
            lights=[LightView(device=d.id, name=d.config.name or d.id, percent=_light_percent(d), online=_online(d))
                    for d in self.lights()],
            climate=self._climate_view(),
            devices=[DeviceGlance(id=d.id, name=d.config.name or d.id, status=d.supervisor.status.value)
                     for d in self.runtime.devices.values()],
            last_scene=await self._last_scene(),
        )

    def _volume_view(self) -> VolumeView | None:
        mixer = self.mixer()
        if mixer is None:
            return None
        low, high = self.config.tablet.volume_db
        db = mixer.device.state.get("faders", {}).get("main")
        muted = mixer.device.state.get("mutes", {}).get("main") if isinstance(mixer.device, HasChannelMute) else None
        return VolumeView(device=mixer.id, min_db=low, max_db=high, step_db=VOLUME_STEP_DB,
                          db=db if isinstance(db, (int, float)) else None, muted=muted, online=_online(mixer))

    def _mic_view(self, mic) -> MicView:
        receiver = self.runtime.devices.get(mic.receiver)
        where = self._mute_target(mic)
        muted = where[0].device.state.get("mutes", {}).get(where[1]) if where is not None else None
        on = bars = None
        if receiver is not None and isinstance(receiver.device, HasWirelessChannels):
            transmitter = receiver.device.state.get("transmitters", {}).get(mic.channel)
            on = transmitter.present if transmitter is not None else None
            battery = receiver.device.state.get("batteries", {}).get(mic.channel)
            bars = battery.bars if battery is not None and isinstance(battery.bars, int) else None
        return MicView(name=mic.name, muted=muted, on=on, battery_bars=bars,
                       online=receiver is not None and _online(receiver))

    def _input_view(self) -> InputView | None:
        display = self.display()
        if display is None:
            return None
        power = display.device.state.get("power") if isinstance(display.device, HasPower) else None
        return InputView(device=display.id, name=display.config.name or display.id, options=self.input_options(display),
                         current=display.device.state.get("input"), power=power.value if power is not None else None,
                         online=_online(display))

    def _climate_view(self) -> ClimateView | None:
        unit = self.climate()
        if unit is None:
            return None
        low, high, step = self.setpoint_band(unit)
        temperature = None
        sensor = unit if isinstance(unit.device, HasTemperature) else self._first(HasTemperature)
        if sensor is not None:
            temperature = _number(sensor.device.state.get("temperature"))
        return ClimateView(device=unit.id, name=unit.config.name or unit.id, min_c=low, max_c=high, step_c=step,
                           setpoint=_number(unit.device.state.get("setpoint")), temperature=temperature,
                           online=_online(unit))

    async def _last_scene(self) -> LastScene | None:
        events = await self.controller.store.events(room=self.room_id, kinds=["scene"], limit=LAST_SCENE_LOOKBACK)
        event = next((e for e in events if e["data"].get("event") in ("started", "finished")), None)
        if event is None:
            return None
        return LastScene(scene=event["data"].get("scene", "?"), ok=event["data"].get("ok"),
                         at=datetime.fromisoformat(event["at"]), by=event["actor"])

    def _mute_target(self, mic):
        """Where a mic is muted: its mixer input when it has one with a mute, else its receiver channel."""
        if mic.mixer is not None:
            mixer = self._device(mic.mixer, HasChannelMute)
            if mixer is not None:
                return mixer, mic.input
        receiver = self._device(mic.receiver, HasChannelMute)
        return (receiver, mic.channel) if receiver is not None else None

    # --- acting -----------------------------------------------------------------------------

    def command_for(self, control) -> tuple[Any, Any]:
        """The device and the typed command a control means, or OutOfRange / NotOnTablet."""
        if isinstance(control, (VolumeControl, MasterMuteControl)):
            mixer = self.mixer()
            if mixer is None:
                raise NotOnTablet("this room's tablet has no master volume (audio.mixer)", "control")
            if isinstance(control, MasterMuteControl):
                if not isinstance(mixer.device, HasChannelMute):
                    raise NotOnTablet(f"{mixer.id} has no mute", "control")
                return mixer, SetChannelMute(channel="main", muted=control.muted)
            low, high = self.config.tablet.volume_db
            if not low <= control.db <= high:
                raise OutOfRange(f"{control.db:g} dB is outside this room's {low:g}…{high:g} dB", "db")
            return mixer, SetFader(channel="main", db=control.db)
        if isinstance(control, MicMuteControl):
            mic = next((m for m in self.mics() if m.name == control.mic), None)
            if mic is None:
                raise NotOnTablet(f"no mic {control.mic!r} on this room's tablet", "mic")
            target = self._mute_target(mic)
            if target is None:
                raise NotOnTablet(f"{control.mic} cannot be muted here", "mic")
            return target[0], SetChannelMute(channel=target[1], muted=control.muted)
        if isinstance(control, InputControl):
            display = self.display()
            if display is None:
                raise NotOnTablet("this room's tablet has no input to select", "control")
            if control.input not in {o.id for o in self.input_options(display)}:
                raise OutOfRange(f"input {control.input!r} is not offered on this tablet", "input")
            return display, SelectInput(input=control.input)
        if isinstance(control, LightControl):
            light = next((d for d in self.lights() if d.id == control.device), None)
            if light is None:
                raise NotOnTablet(f"no light {control.device!r} on this room's tablet", "device")
            return light, SetBrightness(percent=control.percent)
        unit = self.climate()
        if unit is None:
            raise NotOnTablet("this room's tablet has no climate control", "control")
        low, high, _ = self.setpoint_band(unit)
        if not low <= control.celsius <= high:
            raise OutOfRange(f"{control.celsius:g} °C is outside this room's {low:g}–{high:g} °C", "celsius")
        return unit, SetSetpoint(celsius=control.celsius)


def _light_percent(runtime) -> int | None:
    """A light that is off shows 0 %, whatever level it will come back on at."""
    power = runtime.device.state.get("power") if isinstance(runtime.device, HasPower) else None
    if power is not None and getattr(power, "value", power) != "on":
        return 0
    level = _number(runtime.device.state.get("brightness"))
    return round(level) if level is not None else None


def _online(runtime) -> bool:
    return runtime.supervisor.status in (Status.ONLINE, Status.FAULT)


def _number(value) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# --- HTTP --------------------------------------------------------------------------------------


def tablet_router(controller, gate) -> APIRouter:
    from controller.api import ERROR_STATUS

    router = APIRouter(tags=["tablet"])
    errors = {401: {"model": ControlError}, 403: {"model": ControlError}, 404: {"model": ControlError}}

    def tablet_of(room_id: str) -> RoomTablet:
        if room_id not in controller.site.rooms:
            raise HTTPException(404, {"error": "NotFound", "message": f"no room {room_id!r}"})
        return RoomTablet(controller, room_id)

    @router.get("/api/rooms/{room_id}/tablet", responses=errors)
    async def tablet(room_id: str) -> TabletView:
        """What the room's tablet shows: scenes, controls with their ranges and values, the devices' status."""
        return await tablet_of(room_id).view()

    @router.post("/api/rooms/{room_id}/tablet/controls",
                 responses={**errors, 409: {"model": ControlError}, 422: {"model": ControlError},
                            502: {"model": ControlError}, 503: {"model": ControlError}, 504: {"model": ControlError}})
    async def control(room_id: str, body: TabletControl, who: Caller = Depends(gate.caller)) -> ControlResult:
        """Turn one of the tablet's controls; refused (422) outside the room's safe range."""
        room = tablet_of(room_id)
        try:
            runtime, command = room.command_for(body)
        except (OutOfRange, NotOnTablet) as exc:
            raise HTTPException(422, {"error": type(exc).__name__, "message": str(exc), "field": exc.field}) from None
        try:
            await controller.site.execute(room_id, runtime.id, command, actor=who.name)
        except DeviceError as exc:
            status = next(code for kind, code in ERROR_STATUS if isinstance(exc, kind))
            raise HTTPException(status, {"error": type(exc).__name__, "message": str(exc),
                                         "field": getattr(exc, "field", None)}) from None
        return ControlResult(ok=True, control=body.control, device=runtime.id, command=command.model_dump(mode="json"))

    return router
