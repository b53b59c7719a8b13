"""Parsing commands from JSON (API, scenes, playbooks, MQTT) into typed Command models.

Every command class registers itself with its capability (see drivers.capabilities);
the union of all of them, tagged by ``type``, is what a request body may be.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from drivers.capabilities import Command, InputName, SelectInput, SetAVMute, SetFreeze, SetPower, commands


def command_type() -> Any:
    """The tagged union of every registered command, for validation and the OpenAPI schema."""
    registered = tuple(commands().values())
    return Annotated[Union[registered], Field(discriminator="type")]


_adapters: dict[tuple, TypeAdapter] = {}


def parse_command(payload: object) -> Command:
    """Validate a JSON-shaped command; pydantic's ValidationError carries the places."""
    key = tuple(commands())
    if key not in _adapters:
        _adapters[key] = TypeAdapter(command_type())
    return _adapters[key].validate_python(payload)


__all__ = ["Command", "InputName", "SelectInput", "SetAVMute", "SetFreeze", "SetPower", "command_type", "parse_command"]
