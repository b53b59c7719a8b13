"""Opening the controller's pages in the test browser."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Screenshots go to a scratch folder unless ROOMCTL_SCREENSHOTS names one (set it to
# docs/screenshots to refresh the README's pictures): a test run must not rewrite the repo.
SHOTS = Path(os.environ.get("ROOMCTL_SCREENSHOTS") or tempfile.mkdtemp(prefix="roomctl-shots-"))
# A tap or a device change is on the page in tens of milliseconds; this bounds a broken page.
DRAWN = 10_000  # ms
# A self-test takes seconds (the speak test listens up to its speak_within).
SELFTEST = 60_000  # ms


async def open_page(browser, url: str, size=(1280, 800)):
    """A page at ``url``; its script errors are collected (a test ends by asserting there were none)."""
    page = await browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.set_default_timeout(DRAWN)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(url)
    return page, errors


async def fits_the_screen(page) -> bool:
    """Nothing wider than the viewport: no sideways scrolling on a tablet or a phone."""
    return await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
