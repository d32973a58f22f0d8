"""Closing is deterministic: it waits for the WebSocket closing handshake and leaves no task behind.

The simulator runs on a loop thread of its own, so every task left on the test's loop after a close
belongs to the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from pymt5_core.backoff import backoff
from pymt5_core.client import MT5Client
from pymt5_core.errors import NotConnected
from pymt5_core.events import ConnectionState, SessionState
from pymt5_core.sim import SimServer, VirtualClock
from pymt5_core.sync import LoopThread, MT5ClientSync

START_MS = int(datetime(2026, 11, 18, 12, tzinfo=UTC).timestamp() * 1000)
OPTIONS: dict[str, Any] = {"timeout": 10.0, "reconnect_delays": lambda: backoff(0.01, 2.0, 0.2, 0.5, seed=7)}
#: Bound of every wait on the simulator: a failure, never a hang.
WAIT = 10.0


class ThreadedSim:
    """A simulator on its own loop thread, with blocking helpers for the tests."""

    def __init__(self) -> None:
        self.runner = LoopThread("sim-loop")
        self.sim: SimServer = self.runner.run(self._start())

    @staticmethod
    async def _start() -> SimServer:
        sim = SimServer(seed=7, clock=VirtualClock.manual(START_MS))
        await sim.start()
        return sim

    def wait_connections(self, count: int) -> None:
        async def wait() -> None:
            async with asyncio.timeout(WAIT):
                await self.sim.wait_connections(count)

        self.runner.run(wait())

    def drop_connections(self) -> None:
        async def drop() -> None:
            self.sim.faults.drop_after_frames(1)
            await self.sim.advance(1000)  # any frame now cuts the link

        self.runner.run(drop())

    def close(self) -> None:
        async def close() -> None:
            async with asyncio.timeout(WAIT):
                await self.sim.close()

        self.runner.run(close())
        self.runner.stop()


@pytest.fixture
def threaded() -> Iterator[ThreadedSim]:
    sim = ThreadedSim()
    yield sim
    sim.close()


def _client_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]


async def _logged_in(threaded: ThreadedSim, **overrides: Any) -> MT5Client:
    client = MT5Client(threaded.sim.url, **{**OPTIONS, **overrides})
    await client.connect()
    await client.login(threaded.sim.demo_account.login, threaded.sim.demo_account.password)
    return client


async def test_disconnect_waits_for_the_close_and_leaves_no_task(threaded: ThreadedSim) -> None:
    client = await _logged_in(threaded)
    stream = client.ticks("EURUSD")
    await client.quote("EURUSD")  # a subscription and a keep-alive are running
    assert _client_tasks()
    await client.disconnect()
    assert _client_tasks() == []
    assert client.state is SessionState.CLOSED
    await asyncio.to_thread(threaded.wait_connections, 0)
    await client.disconnect()  # idempotent
    with pytest.raises(NotConnected):
        await stream.__anext__()  # a stream started after the close fails instead of waiting forever


async def test_concurrent_closes_all_wait_for_the_same_close(threaded: ThreadedSim) -> None:
    client = await _logged_in(threaded)
    await asyncio.gather(client.disconnect(), client.close(), client.disconnect())
    assert _client_tasks() == []
    await asyncio.to_thread(threaded.wait_connections, 0)


async def test_close_after_the_server_cut_the_link_awaits_the_dead_link(threaded: ThreadedSim) -> None:
    client = await _logged_in(threaded, reconnect=False)
    closed = asyncio.get_running_loop().create_future()

    def on_state(event: ConnectionState) -> None:
        if event.state is SessionState.DISCONNECTED and not closed.done():
            closed.set_result(event)

    client.on(ConnectionState, on_state)
    await client.quote("EURUSD")
    await asyncio.to_thread(threaded.drop_connections)
    await asyncio.wait_for(closed, WAIT)
    await client.disconnect()
    assert _client_tasks() == []
    await asyncio.to_thread(threaded.wait_connections, 0)


def test_blocking_close_ends_every_task_and_the_thread(threaded: ThreadedSim) -> None:
    created: list[asyncio.Task[Any]] = []

    async def record_tasks() -> None:
        loop = asyncio.get_running_loop()

        def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
            task = asyncio.Task(coro, loop=loop, **kwargs)
            created.append(task)
            return task

        loop.set_task_factory(factory)

    client = MT5ClientSync(threaded.sim.url, **OPTIONS)
    client._runner.run(record_tasks())
    with client:
        client.login(threaded.sim.demo_account.login, threaded.sim.demo_account.password)
        with client.ticks("EURUSD") as ticks:
            del ticks
        client.bars("EURUSD", "H1", count=3)
    assert created and all(task.done() for task in created)
    assert client.loop.is_closed() and not client._runner.thread.is_alive()
    threaded.wait_connections(0)
    client.close()  # idempotent


def test_blocking_close_from_the_loop_thread_starts_the_close_without_deadlock(threaded: ThreadedSim) -> None:
    client = MT5ClientSync(threaded.sim.url, **OPTIONS)
    client.connect()
    client.login(threaded.sim.demo_account.login, threaded.sim.demo_account.password)
    client.loop.call_soon_threadsafe(client.close)  # as an event callback would
    client._runner.thread.join(WAIT)
    assert not client._runner.thread.is_alive() and client.loop.is_closed()
    assert client.state is SessionState.CLOSED
    threaded.wait_connections(0)
