"""The blocking facade (also called from inside a running event loop) and the multi-account pool."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from pymt5_core.backoff import backoff
from pymt5_core.client import RATES_DTYPE
from pymt5_core.models import Tick
from pymt5_core.pool import ClientPool
from pymt5_core.sim import SimServer, VirtualClock
from pymt5_core.sync import LoopThread, MT5ClientSync, connect
from pymt5_core.wire.enums import Retcode

START_MS = int(datetime(2026, 11, 18, 12, tzinfo=UTC).timestamp() * 1000)
OPTIONS: dict[str, Any] = {"timeout": 10.0, "reconnect_delays": lambda: backoff(0.01, 2.0, 0.2, 0.5, seed=7)}


async def _start_sim() -> SimServer:
    sim = SimServer(seed=7, clock=VirtualClock.manual(START_MS))
    await sim.start()
    return sim


async def _start_pump(sim: SimServer) -> asyncio.Task[None]:
    async def run() -> None:
        while True:
            await sim.advance(250)
            await asyncio.sleep(0.001)

    return asyncio.get_running_loop().create_task(run())


async def _stop(sim: SimServer, pump: asyncio.Task[None]) -> None:
    pump.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pump
    await sim.close()


@pytest.fixture
def threaded_sim() -> Iterator[SimServer]:
    """A simulator on its own loop thread (the blocking client must not block the simulator's loop)."""
    runner = LoopThread("sim-loop")
    sim = runner.run(_start_sim())
    pump = runner.run(_start_pump(sim))
    yield sim
    runner.run(_stop(sim, pump))
    runner.stop()


def test_blocking_client_end_to_end(threaded_sim: SimServer) -> None:
    with MT5ClientSync(threaded_sim.url, **OPTIONS) as client:
        account = client.login(threaded_sim.demo_account.login, threaded_sim.demo_account.password)
        assert account.login == threaded_sim.demo_account.login
        bars = client.bars("EURUSD", "H1", count=24)
        assert bars.dtype == RATES_DTYPE and len(bars) == 24
        assert client.bars_df("EURUSD", "H1", count=3).index.name == "time"
        with client.ticks("EURUSD") as ticks:
            first = next(ticks)
            second = next(ticks)
        assert first.symbol == second.symbol == "EURUSD" and second.time_msc >= first.time_msc
        result = client.buy("EURUSD", 0.1)
        assert result.retcode == Retcode.DONE and len(client.positions()) == 1
        assert client.close(result.order).retcode == Retcode.DONE
        assert client.positions() == [] and client.server_build > 0
        assert client.order_calc_profit(0, "EURUSD", 1.0, 1.1, 1.1001) == pytest.approx(10.0)
    assert client.loop.is_closed()


async def test_blocking_client_works_inside_a_running_event_loop(threaded_sim: SimServer) -> None:
    asyncio.get_running_loop()  # a notebook-like caller: this thread runs a loop
    client = connect(threaded_sim.url, threaded_sim.demo_account.login, threaded_sim.demo_account.password,
                     **OPTIONS)
    try:
        assert client.account().currency == "USD"
        assert "EURUSD" in [s.name for s in client.symbols()]
    finally:
        client.close()


def test_callbacks_run_on_the_loop_thread_and_cannot_block_on_the_client(threaded_sim: SimServer) -> None:
    client = connect(threaded_sim.url, threaded_sim.demo_account.login, threaded_sim.demo_account.password,
                     **OPTIONS)
    errors: list[BaseException] = []
    got: list[Tick] = []

    def on_tick(tick: Tick) -> None:
        got.append(tick)
        if len(errors) < 1:
            try:
                client.account()
            except RuntimeError as exc:
                errors.append(exc)

    try:
        client.on(Tick, on_tick)
        with client.ticks("EURUSD") as ticks:
            next(ticks)
        assert errors and "loop thread" in str(errors[0]) and got
    finally:
        client.close()


async def test_pool_logs_in_several_accounts_with_separate_sessions(make_client) -> None:
    async with SimServer(seed=7, clock=VirtualClock.manual(START_MS)) as sim, ClientPool() as pool:
        pool.add(sim.url, 5000001, "Demo1234!", **OPTIONS)
        pool.add(sim.url, 5000002, "Netting1234!", **OPTIONS)
        accounts = await pool.connect()
        assert {a.currency for a in accounts.values()} == {"USD", "EUR"} and len(pool) == 2
        assert pool[5000001].session is not pool[5000002].session
        await pool[5000002].buy("EURUSD", 0.1)
        counts = await pool.gather(lambda c: c.positions())
        assert {login: len(p) for login, p in counts.items()} == {5000001: 0, 5000002: 1}
        with pytest.raises(Exception):  # noqa: B017 - InvalidRequest for a duplicate login
            pool.add(sim.url, 5000001, "x")
        await pool.remove(5000002)
        assert 5000002 not in pool and list(pool) == [5000001]


async def test_pool_reports_failed_logins(make_client) -> None:
    async with SimServer(seed=7, clock=VirtualClock.manual(START_MS)) as sim, ClientPool() as pool:
        pool.add(sim.url, 5000001, "Demo1234!", **OPTIONS)
        pool.add(sim.url, 5000002, "wrong", **OPTIONS)
        with pytest.raises(ExceptionGroup) as info:
            await pool.connect()
        assert len(info.value.exceptions) == 1
        assert (await pool[5000001].account()).login == 5000001
