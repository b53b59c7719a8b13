"""What a room's tablet offers its host: the scenes, and the few controls a host may turn,
each inside a range the venue calls safe.

Every field has a default taken from the room itself (its scenes, its mics, the devices
that have the capability), so a room without a ``tablet:`` section still gets a tablet
page; the section narrows and labels it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from drivers.capabilities.av import InputName

ID = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
# The master fader's travel that a host may use: loud enough for a hall, never into feedback.
DEFAULT_VOLUME_DB = (-40.0, 0.0)
# Setpoints a host may choose: around the venue's 22–24 °C comfort band.
DEFAULT_SETPOINT_C = (20.0, 26.0)


class TabletConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenes: list[ID] | None = Field(None, description="Scene ids on the tablet, in order; default: every scene")
    volume_db: tuple[float, float] = Field(DEFAULT_VOLUME_DB, description="Master volume range [low, high] in dB")
    setpoint_c: tuple[float, float] = Field(DEFAULT_SETPOINT_C, description="Setpoints a host may choose [low, high], °C")
    mics: list[str] | None = Field(None, description="Mics (audio.mics names) the host may mute; default: all but spares")
    display: ID | None = Field(None, description="The device whose input the host selects; default: the first with inputs")
    inputs: dict[InputName, str] = Field(default_factory=dict,
                                         description="Inputs offered, with the label hosts see; default: every input")
    lights: list[ID] | None = Field(None, description="Lights with a slider; default: every light with brightness")
    climate: ID | None = Field(None, description="The unit whose setpoint the host sets; default: the first with one")

    @model_validator(mode="after")
    def _ranges_in_order(self) -> "TabletConfig":
        low, high = self.volume_db
        if not -90 <= low < high <= 10:
            raise ValueError("volume_db is [low, high] with -90 <= low < high <= 10")
        low, high = self.setpoint_c
        if not 5 <= low < high <= 35:
            raise ValueError("setpoint_c is [low, high] with 5 <= low < high <= 35")
        return self


def check_tablet(room, devices: dict[str, type]) -> None:
    """Called by RoomConfig's validator: names in ``tablet:`` are the room's, with the right capability."""
    from drivers.capabilities import HasBrightness, HasInputs, HasSetpoint

    tablet: TabletConfig = room.tablet
    for scene in tablet.scenes or []:
        if scene not in room.scenes:
            raise ValueError(f"tablet.scenes: no scene {scene!r} in room {room.id}")
    names = {mic.name for mic in room.audio.mics}
    for mic in tablet.mics or []:
        if mic not in names:
            raise ValueError(f"tablet.mics: no mic {mic!r} in audio.mics")

    def need(device_id: str | None, capability, where: str) -> None:
        if device_id is None:
            return
        if device_id not in devices:
            raise ValueError(f"tablet.{where}: no device {device_id!r} in room {room.id}")
        if not issubclass(devices[device_id], capability):
            raise ValueError(f"tablet.{where}: {device_id} has no {capability.name} capability")

    need(tablet.display, HasInputs, "display")
    need(tablet.climate, HasSetpoint, "climate")
    for i, light in enumerate(tablet.lights or []):
        need(light, HasBrightness, f"lights[{i}]")
