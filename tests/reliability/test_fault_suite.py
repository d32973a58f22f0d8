"""The seeded fault-injection suite: N scenarios against real simulators over loopback (docs/reliability.md).

Size: ``--fault-runs=N`` or ``PYMT5_FAULT_RUNS`` (default 200). Replay one run: ``--fault-seed=S`` or
``PYMT5_FAULT_SEED=S``. Every failing run is reported with its seed, its scenario and the replay command.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter

import pytest

from tests.reliability.fault_harness import Bench, Outcome, run_scenario
from tests.reliability.fault_scenarios import scenario

DEFAULT_RUNS = 200
#: Runs in flight at once, each on its own simulator (overlaps the waits of reconnect back-offs).
PARALLEL = 4


def _option(config: pytest.Config, name: str, env: str) -> int | None:
    value = config.getoption(name, default=None)
    if value is None and os.environ.get(env):
        value = int(os.environ[env])
    return value


async def run_seeds(seeds: list[int]) -> list[Outcome]:
    """Run the scenarios of ``seeds``, :data:`PARALLEL` at a time, in seed order of the result."""
    outcomes: dict[int, Outcome] = {}
    pending = iter(seeds)

    async def worker() -> None:
        for seed in pending:
            async with Bench() as bench:
                outcomes[seed] = await run_scenario(bench, scenario(seed))

    await asyncio.gather(*(worker() for _ in range(PARALLEL)))
    return [outcomes[s] for s in seeds]


def summary(outcomes: list[Outcome], wall: float) -> str:
    """The figures of a suite run (the README's Reliability table comes from this)."""
    kinds = Counter(o.scenario.fault.kind for o in outcomes)
    workloads = Counter(o.scenario.workload for o in outcomes)
    errors: Counter[str] = Counter()
    for o in outcomes:
        errors.update(o.errors)
    lines = [
        f"fault runs: {len(outcomes)} in {wall:.1f} s wall ({sum(o.wall for o in outcomes):.1f} s summed)",
        "workloads: " + ", ".join(f"{k} {n}" for k, n in sorted(workloads.items())),
        "faults by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())),
        f"reconnects: {sum(o.reconnects for o in outcomes)} in {sum(o.reconnects > 0 for o in outcomes)} runs; "
        f"caller retries: {sum(o.caller_retries for o in outcomes)}; "
        f"recovered runs: {sum(o.recovered for o in outcomes)}",
        "clear errors surfaced: " + (", ".join(f"{k} {n}" for k, n in sorted(errors.items())) or "none"),
        f"trade calls checked: {sum(o.trade_calls for o in outcomes)}; "
        f"Backtrader feed bars checked: {sum(o.feed_bars for o in outcomes)}",
        f"duplicate executions: {sum(o.duplicates for o in outcomes)}; "
        f"failed runs: {sum(bool(o.failures) for o in outcomes)}; "
        f"slowest run: {max((o.wall for o in outcomes), default=0):.2f} s",
    ]
    return "\n".join(lines)


async def test_seeded_fault_runs(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> None:
    config = request.config
    seed = _option(config, "--fault-seed", "PYMT5_FAULT_SEED")
    runs = _option(config, "--fault-runs", "PYMT5_FAULT_RUNS") or DEFAULT_RUNS
    seeds = [seed] if seed is not None else list(range(runs))
    started = time.perf_counter()
    outcomes = await run_seeds(seeds)
    report = summary(outcomes, time.perf_counter() - started)
    if seed is not None or runs != DEFAULT_RUNS or config.getoption("verbose") > 0:
        with capsys.disabled():
            print("\n" + (outcomes[0].scenario.describe() + "\n" if seed is not None else "") + report)
    failed = [o for o in outcomes if o.failures]
    assert not failed, f"{len(failed)} of {len(outcomes)} fault runs failed:\n\n" + "\n\n".join(
        o.report() for o in failed[:25]) + "\n\n" + report
    assert sum(o.duplicates for o in outcomes) == 0
