"""State that must not grow with the age of a connection (what ``benchmarks/soak.py`` watches for hours)."""

from __future__ import annotations

import asyncio

from pymt5_core import MT5Client
from pymt5_core.sim import SimServer, VirtualClock
from pymt5_core.wire.enums import Command
from pymt5_core.wire.frames import ResponseFrame
from tests.sim.conftest import START_MS

PINGS = 40


async def test_keepalive_pings_leave_no_task_behind() -> None:
    async with (
        SimServer(seed=1, clock=VirtualClock.manual(START_MS)) as sim,
        MT5Client(sim.url, keepalive_interval=0.002, timeout=10.0) as client,
    ):
        await client.login(sim.demo_account.login, sim.demo_account.password)
        answered = asyncio.get_running_loop().create_future()
        count = 0

        def on_ping(frame: ResponseFrame) -> None:
            nonlocal count
            count += 1
            if count >= PINGS and not answered.done():
                answered.set_result(None)

        off = client.session.add_listener(Command.PING, on_ping)
        await asyncio.wait_for(answered, 10)
        off()
        link = client.session._link
        assert link is not None and not link.closed
        # the reader, the writer, the keep-alive loop and at most the ping in flight, however many were sent
        assert len(link._tasks) <= 4, len(link._tasks)
