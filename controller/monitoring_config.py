"""During and after the meeting: a room's ``monitoring:`` and ``post_meeting:`` settings.

Durations named ``*_sustain`` are simulated seconds on the controller's one clock (a
test or the demo may run it faster); the rest are real seconds. Levels are dB as the
capabilities define them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MonitoringConfig(_Model):
    """What the patrol during a meeting watches, and how far it may act on its own."""

    clip_sustain: float = Field(2.0, ge=0, le=600, description="Seconds of clipping before levels are reduced")
    clip_step_db: float = Field(3.0, gt=0, le=12, description="dB taken off a clipping channel per step")
    clip_step_interval: float = Field(1.0, ge=0, le=600, description="Seconds between two reductions of one channel")
    fader_floor_db: float = Field(-20.0, ge=-90, le=10, description="Never pull a mixer fader below this")
    gain_floor_db: float = Field(-12.0, ge=-18, le=42, description="Never turn a receiver's gain below this")
    battery_margin_minutes: float = Field(10.0, ge=0, le=600,
                                          description="A battery must outlast the meeting by this much")
    rf_sustain: float = Field(3.0, ge=0, le=600, description="Seconds of lost RF before it is an alert")
    temperature_band: tuple[float, float] = Field((21.0, 25.0), description="Room temperature that needs no alert, °C")
    temperature_sustain: float = Field(300.0, ge=0, le=7200, description="Seconds out of band before it is an alert")
    offline_grace: float = Field(0.0, ge=0, le=600, description="Seconds a device may be offline before the alert")
    auto_playbooks: bool = Field(False, description="Start each alert's playbook by itself")
    meeting_minutes: float = Field(120.0, gt=0, le=24 * 60,
                                   description="Meeting length when monitoring is started without an end")

    @model_validator(mode="after")
    def _band_in_order(self) -> "MonitoringConfig":
        if self.temperature_band[0] >= self.temperature_band[1]:
            raise ValueError("temperature_band is [low, high] with low < high")
        return self


class PostMeetingConfig(_Model):
    """The routine after the meeting: count, check, restore, shut down, sign.

    The mixer's baseline snapshot is the room's ``audio.baseline_scene`` (on ``audio.mixer``)."""

    baseline_scene: str | None = Field(None, pattern=ID_PATTERN,
                                       description="A room scene that restores settings besides the mixer's snapshot")
    shutdown_scene: str = Field("shutdown", pattern=ID_PATTERN,
                                description="The room's shutdown scene; without one, every device is powered off")
    switch_off_within: float = Field(120.0, gt=0, le=3600,
                                     description="Seconds to wait for transmitters still on to be switched off")
    damage_check_timeout: float = Field(300.0, gt=0, le=24 * 3600,
                                        description="Seconds each mic's damage check waits for the technician")


def check_post_meeting(room, devices: dict[str, type]) -> None:
    """A baseline that names a missing scene is a config error (the mixer's is checked with audio:)."""
    settings: PostMeetingConfig = room.post_meeting
    if settings.baseline_scene is not None and settings.baseline_scene not in room.scenes:
        raise ValueError(f"post_meeting.baseline_scene: no scene {settings.baseline_scene!r} in room {room.id}")
