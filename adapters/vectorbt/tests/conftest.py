"""Fixtures for the vectorbt adapter: a fake client (always) and the simulator (when it is there)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest

HERE = Path(__file__).parent


def _load_fakes() -> ModuleType:
    # Tests run with --import-mode=importlib, so the test folder is not importable by name.
    spec = importlib.util.spec_from_file_location("pymt5_vectorbt_test_fakes", HERE / "fakes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


fakes = _load_fakes()


@pytest.fixture
def fake_client() -> object:
    """A fake client whose clock is Friday 2024-03-08 20:30 UTC (EURUSD still trading)."""
    return fakes.FakeClient("2024-03-08 20:30:00+00:00")


# --- the simulator, in a background thread, for the blocking MT5Data API ----------------------------------

#: The simulator's manual clock: Monday 2024-03-11 12:00:30 UTC (forex open, the 12:00 M1 bar forming).
SIM_START = pd.Timestamp("2024-03-11 12:00:30", tz="UTC")


class SimThread:
    """A manual-clock ``SimServer`` served by an event loop in a daemon thread."""

    def __init__(self, start: pd.Timestamp) -> None:
        from pymt5_core.sim import SimServer, VirtualClock

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sim-loop", daemon=True)
        self.thread.start()
        self.server = SimServer(seed=1, clock=VirtualClock.manual(int(start.timestamp() * 1000)))
        self.run(self.server.start())
        self.url: str = self.server.url
        self.login: int = self.server.demo_account.login
        self.password: str = self.server.demo_account.password

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def now(self) -> pd.Timestamp:
        return pd.Timestamp(self.server.clock.now_ms(), unit="ms", tz="UTC")

    def advance(self, delta: pd.Timedelta) -> None:
        self.run(self.server.advance(int(delta.total_seconds() * 1000)))

    def close(self) -> None:
        # Bounded, so that a client that did not close its connection cannot hang the suite: the loop is
        # then left running on its daemon thread rather than torn down mid-task.
        future = asyncio.run_coroutine_threadsafe(self.server.close(), self.loop)
        try:
            future.result(timeout=3)
        except concurrent.futures.TimeoutError:
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def sim() -> Iterator[SimThread]:
    """One simulator per test module; only moving the clock forward is allowed."""
    pytest.importorskip("pymt5_core.sync", reason="pymt5_core.sync (MT5ClientSync) has not landed yet")
    server = SimThread(SIM_START)
    try:
        yield server
    finally:
        server.close()
