"""The event loop roomctl runs on: uvloop where it is installed, else asyncio's own.

uvloop is asyncio's API on libuv; uvicorn takes it for the same reason. For a
controller whose work is small messages on many sockets it cuts what each message
costs the loop: an X-Air fader set and read-back goes from ~1.3x a blocking
python-osc loop to ~1.1x (benchmarks/bench_xair.py). Everything asyncio offers keeps
working: the tests run on the same loop the product does.
"""

from __future__ import annotations

import asyncio
import os


def install() -> str:
    """Make new event loops uvloop's when it is installed; returns the loop's name.
    ``ROOMCTL_LOOP=asyncio`` keeps asyncio's own (to compare, or to rule the loop out)."""
    if os.environ.get("ROOMCTL_LOOP", "").lower() == "asyncio":
        return "asyncio"
    try:
        import uvloop
    except ImportError:  # not built for this platform (Windows): asyncio's own loop
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"
