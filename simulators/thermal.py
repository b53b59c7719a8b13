"""A meeting room's air temperature, for the simulated thermostats and AC units.

One lumped heat balance (the room as a single thermal mass):

    C · dT/dt = UA · (T_outside − T) + n · q_person + Q_unit

- ``C``: what the air, furniture and inner surfaces store per kelvin. A 60 m² room with a
  3 m ceiling holds ~216 kJ/K of air; furnishings and the surfaces that exchange heat
  within an hour bring the effective figure to ~1.5 MJ/K.
- ``UA``: heat lost through walls, glazing and fresh-air ventilation, ~120 W/K. With C
  it gives the room's time constant, C/UA ≈ 3.5 h: left alone, the room drifts toward the
  outside temperature over hours, not minutes.
- ``q_person``: a seated adult gives off ~75 W of sensible heat (ASHRAE, office work).
- ``Q_unit``: the AC pulls the room toward its setpoint at up to its capacity (a 5 kW
  split/VRF indoor unit for such a room); at the setpoint it modulates, as inverter
  units do, to hold it — if its capacity suffices.

With those constants a room at 30 °C cools to 23 °C in about 40 minutes when empty
(a realistic pre-cooling lead), and a full room slows it markedly. Between changes of
mode, setpoint, outside temperature or occupancy the equation is linear with constant
coefficients, so it is solved exactly (exponential segments), not stepped: the answer
does not depend on how often the clock is read.

Pure functions; the simulators read time off their injected clock and call ``advance``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_EPS = 1e-9


@dataclass(frozen=True)
class RoomModel:
    heat_capacity: float = 1.5e6  # J/K
    heat_loss: float = 120.0  # W/K (UA)
    cooling_capacity: float = 5000.0  # W
    heating_capacity: float = 5000.0  # W
    person_heat: float = 75.0  # W sensible per seated person

    @property
    def time_constant(self) -> float:
        """Seconds for the free room to close 63 % of its gap to the outside."""
        return self.heat_capacity / self.heat_loss


DEFAULT_ROOM = RoomModel()

# What each mode lets the unit do: (most cooling, most heating) in W, negative cools.
def _power_limits(mode: str, model: RoomModel) -> tuple[float, float]:
    if mode == "cool" or mode == "dry":
        return -model.cooling_capacity, 0.0
    if mode == "heat":
        return 0.0, model.heating_capacity
    if mode == "auto":
        return -model.cooling_capacity, model.heating_capacity
    return 0.0, 0.0  # off, fan


@dataclass(frozen=True)
class Conditions:
    outside: float  # °C
    people: int = 0
    mode: str = "off"  # off, heat, cool, auto, fan, dry
    setpoint: float = 23.0


@dataclass(frozen=True)
class Step:
    temperature: float
    unit_power: float  # W at the end of the step; negative: cooling
    action: str  # idle, heating, cooling, fan, off


def advance(temperature: float, seconds: float, conditions: Conditions, model: RoomModel = DEFAULT_ROOM) -> Step:
    """The room ``seconds`` later under constant ``conditions``."""
    lowest, highest = _power_limits(conditions.mode, model)
    gains = conditions.people * model.person_heat
    ua, tau, sp = model.heat_loss, model.time_constant, conditions.setpoint
    hold_power = ua * (sp - conditions.outside) - gains  # what keeps the room exactly at the setpoint
    t, left, power = temperature, max(0.0, seconds), 0.0
    for _ in range(4):  # at most: approach, reach, hold (or leave)
        at_setpoint = abs(t - sp) < 1e-6
        if at_setpoint and lowest <= hold_power <= highest:
            t, power = sp, hold_power
            break
        if at_setpoint:
            power = lowest if hold_power < lowest else highest
        else:
            power = lowest if t > sp else highest
        equilibrium = conditions.outside + (gains + power) / ua
        crosses = min(t, equilibrium) < sp < max(t, equilibrium) and not at_setpoint
        if crosses:
            reach = tau * math.log((t - equilibrium) / (sp - equilibrium))
            if reach < left:
                t, left = sp, left - reach
                continue
        t = equilibrium + (t - equilibrium) * math.exp(-left / tau) if left > 0 else t
        break
    return Step(temperature=t, unit_power=power, action=_action(conditions.mode, power))


def _action(mode: str, power: float) -> str:
    if mode == "off":
        return "off"
    if power < -_EPS:
        return "cooling"
    if power > _EPS:
        return "heating"
    return "fan" if mode == "fan" else "idle"


def time_to_reach(
    start: float, target: float, *, outside: float, people: int = 0, model: RoomModel = DEFAULT_ROOM
) -> float | None:
    """Seconds the unit, running flat out from ``start``, needs to bring the room to ``target``.

    None when it cannot get there (the heat load beats its capacity). Cooling if the room
    is warmer than the target, heating if colder.
    """
    if abs(start - target) < 1e-9:
        return 0.0
    power = -model.cooling_capacity if start > target else model.heating_capacity
    equilibrium = outside + (people * model.person_heat + power) / model.heat_loss
    if not min(start, equilibrium) < target < max(start, equilibrium):
        return None
    return model.time_constant * math.log((start - equilibrium) / (target - equilibrium))


def latest_start(
    ready_at: float, start: float, target: float, *, outside: float, people: int = 0,
    model: RoomModel = DEFAULT_ROOM,
) -> float | None:
    """When the unit must start (same clock as ``ready_at``) for the room to be at ``target`` by then.

    "Reach 23 °C by T-30": ``latest_start(meeting - 30*60, room_now, 23, outside=...)``.
    The room's drift before the start is ignored: starting earlier only helps.
    """
    needed = time_to_reach(start, target, outside=outside, people=people, model=model)
    return None if needed is None else ready_at - needed


class Room:
    """A room's temperature as a function of an injected clock; the unit's controls change it."""

    def __init__(self, clock, *, temperature: float = 28.0, outside: float = 32.0, people: int = 0,
                 model: RoomModel = DEFAULT_ROOM) -> None:
        self.clock = clock
        self.model = model
        self._temperature = temperature
        self._at = clock()
        self._conditions = Conditions(outside=outside, people=people)
        self._last = Step(temperature, 0.0, "off")

    def _catch_up(self) -> Step:
        now = self.clock()
        if now > self._at:
            self._last = advance(self._temperature, now - self._at, self._conditions, self.model)
            self._temperature, self._at = self._last.temperature, now
        return self._last

    @property
    def temperature(self) -> float:
        return self._catch_up().temperature

    @property
    def action(self) -> str:
        return self._catch_up().action

    @property
    def conditions(self) -> Conditions:
        return self._conditions

    def change(self, **changes) -> None:
        """Change mode, setpoint, outside or people from now on."""
        self._catch_up()
        self._conditions = Conditions(**{**self._conditions.__dict__, **changes})
        self._last = advance(self._temperature, 0.0, self._conditions, self.model)
