"""Drivers by name. A driver registers itself by subclassing Device with a ``driver``
name; ``load_all`` imports every driver module under the package, so a new device
type is one new module and nothing else changes."""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from drivers.device import Device

_DRIVERS: dict[str, type["Device"]] = {}
# Packages that hold infrastructure, not drivers.
_NOT_DRIVERS = {"drivers.transports"}


def register(cls: type["Device"]) -> None:
    existing = _DRIVERS.get(cls.driver)
    if existing is not None and existing is not cls and existing.__qualname__ != cls.__qualname__:
        raise RuntimeError(f"two drivers named {cls.driver!r}: {existing.__module__} and {cls.__module__}")
    _DRIVERS[cls.driver] = cls


def load_all() -> dict[str, type["Device"]]:
    import drivers

    for info in pkgutil.walk_packages(drivers.__path__, "drivers."):
        if any(info.name == p or info.name.startswith(p + ".") for p in _NOT_DRIVERS):
            continue
        importlib.import_module(info.name)
    return dict(_DRIVERS)


def get(name: str) -> type["Device"]:
    if name not in _DRIVERS:
        load_all()
    try:
        return _DRIVERS[name]
    except KeyError:
        raise KeyError(f"unknown driver {name!r}; known: {', '.join(sorted(_DRIVERS))}") from None
