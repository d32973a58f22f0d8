"""Fixtures of the client tests: a simulator on a manual clock, a logged-in client, and a clock pump.

Everything runs over real loopback sockets. Time in the simulator moves only when a test says so
(``await sim.advance(ms)``) or while a :func:`pump` is active; tests wait on events and futures, never on
wall-clock sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from pymt5_core.backoff import backoff
from pymt5_core.client import MT5Client
from pymt5_core.sim import SimServer, VirtualClock

#: Wednesday 2026-11-18 12:00 UTC: every market of the simulator is open.
START = datetime(2026, 11, 18, 12, tzinfo=UTC)
START_MS = int(START.timestamp() * 1000)
SEED = 7


def client_kwargs(**overrides: Any) -> dict[str, Any]:
    """Client options for tests: fast, seeded reconnects."""
    options: dict[str, Any] = {
        "timeout": 10.0,
        "reconnect_delays": lambda: backoff(0.01, 2.0, 0.2, 0.5, seed=SEED),
    }
    options.update(overrides)
    return options


@pytest.fixture
def make_client() -> Callable[..., MT5Client]:
    def make(url: str, **overrides: Any) -> MT5Client:
        return MT5Client(url, **client_kwargs(**overrides))

    return make


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(seed=SEED, clock=VirtualClock.manual(START_MS)) as server:
        yield server


@pytest.fixture
async def client(sim: SimServer, make_client: Callable[..., MT5Client]) -> AsyncIterator[MT5Client]:
    c = make_client(sim.url)
    await c.connect()
    await c.login(sim.demo_account.login, sim.demo_account.password)
    yield c
    await c.disconnect()


@contextlib.asynccontextmanager
async def _pump(sim: SimServer, step_ms: int = 250) -> AsyncIterator[None]:
    async def run() -> None:
        while True:
            await sim.advance(step_ms)
            await asyncio.sleep(0)

    task = asyncio.create_task(run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def pump() -> Callable[..., contextlib.AbstractAsyncContextManager[None]]:
    """``async with pump(sim):`` moves the simulator's clock forward continuously (market data flows)."""
    return _pump


@pytest.fixture
def event_waiter() -> Callable[..., Any]:
    """``wait = event_waiter(client, EventType, predicate)``; ``await wait`` returns the first matching event."""

    def make(client: MT5Client, event_type: type, predicate: Callable[[Any], bool] = lambda e: True
             ) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def on_event(event: Any) -> None:
            if not future.done() and predicate(event):
                future.set_result(event)
                off()

        off = client.on(event_type, on_event)
        return future

    return make
