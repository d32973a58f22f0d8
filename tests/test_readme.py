"""The README's Python examples run as written (the async one on its own simulator, the others on one here)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pymt5_core.sim import SimServer, VirtualClock
from pymt5_core.sync import LoopThread

README = Path(__file__).resolve().parents[1] / "README.md"
#: Wednesday 2026-11-18 12:00 UTC: every market of the simulator is open.
NOW_MS = int(datetime(2026, 11, 18, 12, tzinfo=UTC).timestamp() * 1000)


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    runner = LoopThread("readme-sim")

    async def start() -> SimServer:
        sim = SimServer(seed=1, clock=VirtualClock.manual(NOW_MS))
        await sim.start()
        return sim

    sim = runner.run(start())
    yield sim

    async def close() -> None:
        async with asyncio.timeout(10):
            await sim.close()

    runner.run(close())
    runner.stop()


def test_the_readme_has_the_four_quick_start_examples() -> None:
    blocks = examples()
    assert len(blocks) == 4
    assert "MT5Client" in blocks[0] and "connect(" in blocks[1]
    assert "pymt5_core.download(" in blocks[2] and "import pymt5_core.mt5" in blocks[3]


def test_the_async_example_runs_on_its_own_simulator(capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(examples()[0], "README async example", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "EURUSD" in out or "BTCUSD" in out  # the tick printed
    assert re.search(r"^10009 \[\d+\]$", out, re.M)  # retcode DONE and one position


@pytest.mark.parametrize("index", [1, 2, 3], ids=["blocking", "download", "compat"])
def test_the_other_examples_run_against_a_simulator(index: int, server: SimServer, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # the download example caches under ~
    namespace: dict[str, Any] = {"__name__": "readme", "url": server.url,
                                 "login": server.demo_account.login, "password": server.demo_account.password}
    exec(compile(examples()[index], f"README example {index}", "exec"), namespace)
    if index == 2:
        df = namespace["df"]
        assert isinstance(df, pd.DataFrame) and len(df) > 1000 and str(df.index.tz) == "UTC"
        assert list(tmp_path.rglob("*.parquet"))
    if index == 3:
        assert namespace["rates"] is not None and len(namespace["rates"]) == 500
