"""A room's sound as wired: which receiver channel is which mic, which mixer input it
feeds, the spares, the baseline mixer scene and the inputs that need phantom power."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class MicConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="What the technician calls it: Chair, Podium, Floor 1")
    receiver: str = Field(description="Device id of the wireless receiver")
    channel: int = Field(ge=1, le=64, description="Receiver channel")
    mixer: str | None = Field(None, description="Device id of the mixer the receiver channel feeds")
    input: int | None = Field(None, ge=1, le=64, description="Mixer input channel it feeds")
    spare: bool = Field(False, description="A charged spare, not in use at the start")

    @model_validator(mode="after")
    def _mixer_and_input_together(self) -> "MicConfig":
        if (self.mixer is None) != (self.input is None):
            raise ValueError("give both mixer and input, or neither")
        return self

    @property
    def label(self) -> str:
        return f"Mic {self.channel} — {self.name}"


class AudioConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mics: list[MicConfig] = Field(default_factory=list)
    mixer: str | None = Field(None, description="The room's mixer, for the baseline scene and phantom checks")
    baseline_scene: int | None = Field(None, ge=0, le=999, description="Mixer scene/snapshot the room starts from")
    phantom: list[int] = Field(default_factory=list, description="Mixer inputs that need phantom power")
    speak_level_dbfs: float = Field(-45.0, ge=-90, le=0, description="A level above this counts as heard")
