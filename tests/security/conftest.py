"""Helpers of the security tests: a simulator on a thread of its own, for the blocking entry points."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from pymt5_core.sim import SimServer


@contextlib.contextmanager
def sim_in_thread(**kwargs: Any) -> Iterator[SimServer]:
    """A started :class:`SimServer` served by an event loop on a daemon thread (blocking APIs need one)."""
    started = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        async with SimServer(**kwargs) as sim:
            box["sim"], box["loop"], box["stop"] = sim, asyncio.get_running_loop(), asyncio.Event()
            started.set()
            await box["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="security-sim", daemon=True)
    thread.start()
    if not started.wait(30):
        raise TimeoutError("the simulator did not start")
    try:
        yield box["sim"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(30)
