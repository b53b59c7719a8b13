"""A room's self-test settings: thresholds with sensible defaults, and checks to skip."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    power_on_within: float = Field(90.0, gt=0, le=600, description="Seconds a device may take to power on (projector warm-up)")
    reconnect_wait: float = Field(5.0, gt=0, le=120, description="Seconds to let an offline device reconnect before failing it")
    lamp_rated_hours: int = Field(3000, gt=0, description="Lamp life the manufacturer rates")
    filter_rated_hours: int = Field(2000, gt=0, description="Hours between filter cleanings")
    wear_warning_share: float = Field(0.9, gt=0, le=1, description="Warn at this share of rated life")
    battery_margin_minutes: float = Field(30.0, ge=0, description="Battery must outlast the meeting by this much")
    speak_within: float = Field(15.0, gt=0, le=120, description="Seconds for the speak test to hear a mic")
    check_timeout: float = Field(120.0, gt=0, le=900, description="The longest any one check may take")
    comfort_band: tuple[float, float] = Field((22.0, 24.0), description="Room temperature band at T-30, °C")
    climate_rate_c_per_minute: float = Field(0.15, gt=0, le=5, description="How fast the unit moves the room, °C/min")
    climate_lead_minutes: float = Field(30.0, ge=0, le=600, description="Minutes from the self-test (T-60) to T-30")

    @model_validator(mode="after")
    def _band_in_order(self) -> "Thresholds":
        if self.comfort_band[0] >= self.comfort_band[1]:
            raise ValueError("comfort_band is [low, high] with low < high")
        return self


class SelfTestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thresholds: Thresholds = Field(default_factory=Thresholds)
    skip: list[str] = Field(default_factory=list, description="Check ids not to run in this room")
    meeting_minutes: float = Field(120.0, gt=0, le=24 * 60, description="Meeting length when no booking says")
