"""Fixtures: the simulated venue running with its API, an HTTP client for it."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from sites import hall_yaml, running  # noqa: E402


@pytest.fixture
async def venue(tmp_path):
    async with running(hall_yaml(tmp_path)) as controller:
        yield controller


@pytest.fixture
async def small_venue(tmp_path):
    """The venue without its MQTT devices: no broker, starts faster."""
    async with running(hall_yaml(tmp_path, mqtt=False)) as controller:
        yield controller


@pytest.fixture
async def client(venue):
    async with httpx.AsyncClient(base_url=venue.url, timeout=30) as client:
        yield client


@pytest.fixture
async def small_client(small_venue):
    async with httpx.AsyncClient(base_url=small_venue.url, timeout=30) as client:
        yield client


# Debian's Chromium, driven by Playwright; never a downloaded browser build.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()
