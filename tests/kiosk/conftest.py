"""Fixtures: a desk, its clock and its running service."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from desks import Desk, HandClock, make_desk  # noqa: E402


@pytest.fixture
def desk(tmp_path) -> Desk:
    return make_desk(tmp_path)


@pytest.fixture
def clock() -> HandClock:
    return HandClock()


@pytest.fixture
async def service(desk, clock):
    service = desk.service(clock)
    await service.start()
    yield service
    await service.stop()
