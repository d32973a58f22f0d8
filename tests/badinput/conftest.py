"""Shared pieces of the bad-input tests: one simulator per module, on a loop thread of its own.

"Nothing was sent" is proven by the simulator's count of received commands (``SimServer.received``):
the count is read after a round trip that follows the bad call, so anything the call had sent would
already have been counted (a connection delivers its frames in order).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio

from pymt5_core.client import MT5Client
from pymt5_core.sim import SimServer, VirtualClock
from pymt5_core.sync import LoopThread, MT5ClientSync

#: Wednesday 2026-11-18 12:00 UTC: every market of the simulator is open.
START = datetime(2026, 11, 18, 12, tzinfo=UTC)
#: Keyword arguments of the clients under test: no periodic keep-alive that could be counted as "sent".
CLIENT_OPTIONS: dict[str, Any] = {"timeout": 10.0, "keepalive_interval": 3600.0}
#: A symbol every account of the simulator has, and one no server has.
SYMBOL, UNKNOWN = "EURUSD", "NOPE.X"


class SimThread:
    """A manual-clock :class:`SimServer` on a :class:`LoopThread`, read from synchronous test code."""

    def __init__(self) -> None:
        self.runner = LoopThread("badinput-sim")
        self.sim: SimServer = self.runner.run(self._start())
        self.url = self.sim.url
        self.login = self.sim.demo_account.login
        self.password = self.sim.demo_account.password

    @staticmethod
    async def _start() -> SimServer:
        sim = SimServer(seed=3, clock=VirtualClock.manual(int(START.timestamp() * 1000)))
        await sim.start()
        return sim

    def received(self) -> Counter[int]:
        """A copy of the commands received so far, taken on the simulator's loop."""

        async def copy() -> Counter[int]:
            return Counter(self.sim.received)

        return self.runner.run(copy())

    def connections(self) -> int:
        async def count() -> int:
            return self.sim.connections

        return self.runner.run(count())

    def close(self) -> None:
        async def close() -> None:
            async with asyncio.timeout(10):
                await self.sim.close()

        self.runner.run(close())
        self.runner.stop()


@pytest.fixture(scope="module")
def sim_thread() -> Iterator[SimThread]:
    sim = SimThread()
    yield sim
    sim.close()


@pytest.fixture(scope="module")
def sync_client(sim_thread: SimThread) -> Iterator[MT5ClientSync]:
    """A logged-in blocking client with the configuration and the quote of SYMBOL loaded."""
    with MT5ClientSync(sim_thread.url, **CLIENT_OPTIONS) as client:
        client.login(sim_thread.login, sim_thread.password)
        client.symbol(SYMBOL)
        client.quote(SYMBOL)
        yield client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def async_client(sim_thread: SimThread) -> AsyncIterator[MT5Client]:
    """The same, asynchronous, on the module's event loop (mark its tests ``loop_scope="module"``)."""
    async with MT5Client(sim_thread.url, **CLIENT_OPTIONS) as client:
        await client.login(sim_thread.login, sim_thread.password)
        await client.symbol(SYMBOL)
        await client.quote(SYMBOL)
        yield client


def ping(client: MT5ClientSync) -> None:
    """One keep-alive round trip of a blocking client: what it sent before has reached the server."""
    from pymt5_core.wire.enums import Command

    asyncio.run_coroutine_threadsafe(client.client.session.request(Command.PING), client.loop).result()


def sent_between(before: Counter[int], after: Counter[int]) -> Counter[int]:
    """The commands received between two snapshots."""
    return after - before
