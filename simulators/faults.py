"""One fault vocabulary for every simulator."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Fault(StrEnum):
    # link faults, applied by the transport layer of every simulator
    NO_REPLY = "no_reply"            # reads requests, answers nothing
    SLOW_REPLY = "slow_reply"        # answers after `delay` seconds
    GARBLED = "garbled"              # answers with corrupted bytes (frame end kept)
    PARTIAL = "partial"              # sends part of one answer, then nothing
    DISCONNECT = "disconnect"        # drops connections and refuses new ones (cable pulled)
    REBOOT = "reboot"                # drops connections, silent for `reboot_time`, state reset
    # device faults, applied by each device model where the device can have them
    LAMP_FAILURE = "lamp_failure"
    COVER_OPEN = "cover_open"
    OVER_TEMPERATURE = "over_temperature"
    FILTER = "filter"
    FAN = "fan"
    # audio device faults: wireless receivers
    TRANSMITTER_OFF = "transmitter_off"  # the mic on a channel is switched off (param channel, 0 = all)
    BATTERY_FLAT = "battery_flat"        # the transmitter's battery is empty
    RF_LOSS = "rf_loss"                  # out of range / antenna cable off: no RF, no audio
    INTERFERENCE = "interference"        # the receiver detects RF interference on the channel
    # audio device faults: mixers
    CLIPPING = "clipping"                # an input driven too hot (param channel, 0 = every wired input)
    PACKET_LOSS = "packet_loss"          # UDP: drops datagrams both ways (param loss, 0-1; default 0.5)
    XREMOTE_EXPIRED = "xremote_expired"  # the mixer forgets /xremote and /meters subscribers at once


LINK_FAULTS = frozenset({Fault.NO_REPLY, Fault.SLOW_REPLY, Fault.GARBLED, Fault.PARTIAL, Fault.DISCONNECT, Fault.REBOOT})

DEFAULT_PARAMS = {
    "delay": 3.0,        # SLOW_REPLY: longer than any sensible driver timeout
    "reboot_time": 1.0,  # REBOOT: how long the device is gone
    "channel": 0,        # audio faults: which channel (0 = all)
    "loss": 0.5,         # PACKET_LOSS: the share of datagrams lost
}


@dataclass
class Faults:
    active: set[Fault] = field(default_factory=set)
    params: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_PARAMS))

    def inject(self, fault: Fault | str, **params: float) -> Fault:
        fault = Fault(fault)
        self.active.add(fault)
        self.params.update(params)
        return fault

    def clear(self, fault: Fault | str | None = None) -> None:
        if fault is None:
            self.active.clear()
            self.params = dict(DEFAULT_PARAMS)
        else:
            self.active.discard(Fault(fault))

    def __contains__(self, fault: object) -> bool:
        return fault in self.active
