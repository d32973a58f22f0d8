"""Soak test: the simulator streams ticks at a high rate to several clients for a while; memory must stay flat.

The simulator runs in a child process with a fast clock (``--speed`` simulated seconds per real second,
starting on a weekday morning so every market is open). ``--clients`` :class:`~pymt5_core.MT5Client`
instances in this process log in (the three plain demo accounts in turn), subscribe to ``--symbols``
symbols through ``client.ticks()`` and count what they receive; with ``--trade-every`` each client also
opens and closes a small position at that interval. Every ``--interval`` seconds one line is printed:
ticks/s per client and in total, the resident memory (RSS) and the Python memory blocks in use after
a full garbage collection of both processes, the simulator's open connections and the frames queued in
it but not yet written.

At the end the samples after the first ``--warmup`` seconds are cut into thirds and the median of the
last third is compared with the median of the second third, for each process. Memory is called flat
when neither RSS grew by more than ``--tolerance-mib`` MiB (and 2 %) nor the Python blocks by more than
2 %; the exit status is 0 when flat, 1 when growing, 2 when no tick arrived.

Run: ``python benchmarks/soak.py --seconds 60`` (``make soak`` runs 5 minutes with 5 clients).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing as mp
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

#: A Wednesday morning: every default symbol is quoted and tradable.
START_MS = int(datetime(2026, 3, 4, 8, 0, tzinfo=UTC).timestamp() * 1000)
ACCOUNTS = [(5000001, "Demo1234!"), (5000002, "Netting1234!"), (5000003, "Yen1234!")]
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mib() -> float:
    """Resident memory of this process in MiB (Linux ``/proc``; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * _PAGE / 2**20
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


@dataclass
class Usage:
    """One memory reading of a process."""

    rss: float
    blocks: int


def usage() -> Usage:
    """RSS, and the Python blocks still in use after a full collection (garbage awaiting it is no leak)."""
    gc.collect()
    return Usage(rss_mib(), sys.getallocatedblocks())


# --- the simulator (child process) ---------------------------------------------------------------------


def run_sim(pipe: Connection, speed: float, seed: int) -> None:
    """Serve until "stop"; answer every "stats" with ``(Usage, connections, queued frames)``."""
    from pymt5_core.sim import SimServer, VirtualClock

    async def main() -> None:
        async with SimServer(seed=seed, clock=VirtualClock(speed, START_MS)) as sim:
            pipe.send(sim.url)
            while (command := await asyncio.to_thread(pipe.recv)) != "stop":
                assert command == "stats"
                queued = sum(conn._out.qsize() for conn in list(sim._connections))
                pipe.send((usage(), sim.connections, queued))

    asyncio.run(main())


# --- the clients (this process) ------------------------------------------------------------------------


@dataclass
class Client:
    """One soak client and its counters."""

    number: int
    ticks: int = 0
    trades: int = 0
    errors: list[str] = field(default_factory=list)


async def run_client(state: Client, url: str, symbols: int, trade_every: float, stop: asyncio.Event) -> None:
    from pymt5_core import MT5Client

    login, password = ACCOUNTS[state.number % len(ACCOUNTS)]
    async with MT5Client(url, timeout=30.0) as client:
        await client.login(login, password)
        names = [s.name for s in await client.symbols()][:symbols]

        async def count() -> None:
            async with client.ticks(names) as stream:
                async for _ in stream:
                    state.ticks += 1

        async def trade() -> None:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), trade_every)
                if stop.is_set():
                    return
                try:
                    opened = await client.buy(names[0], 0.01, comment=f"soak {state.number}")
                    mine = [p.ticket for p in await client.positions() if p.order == opened.order]
                    for ticket in mine:
                        await client.close_position(ticket)
                    state.trades += 1
                except Exception as exc:  # reported at the end, the soak goes on
                    state.errors.append(f"{type(exc).__name__}: {exc}")

        tasks = [asyncio.create_task(count())]
        if trade_every > 0:
            tasks.append(asyncio.create_task(trade()))
        await stop.wait()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


class Samples:
    """The report lines' numbers in a table allocated up front, so that keeping them allocates nothing
    (the soak's own bookkeeping must not show up as growth of the client process).

    Columns: time, total ticks/s, client RSS and blocks, simulator RSS and blocks, connections, queued.
    """

    T, TOTAL, CLIENT_RSS, CLIENT_BLOCKS, SIM_RSS, SIM_BLOCKS, CONNECTIONS, QUEUED = range(8)

    def __init__(self, rows: int) -> None:
        self.table = np.full((rows, 8), np.nan)
        self.count = 0

    def add(self, t: float, total: float, client: Usage, sim: Usage, connections: int, queued: int) -> None:
        if self.count < len(self.table):
            self.table[self.count] = (t, total, client.rss, client.blocks, sim.rss, sim.blocks, connections, queued)
            self.count += 1

    def after(self, warmup: float) -> Any:
        rows = self.table[: self.count]
        return rows[rows[:, self.T] > warmup]


async def soak(args: argparse.Namespace, pipe: Connection, url: str) -> Samples:
    stop = asyncio.Event()
    states = [Client(i) for i in range(args.clients)]
    tasks = [asyncio.create_task(run_client(s, url, args.symbols, args.trade_every, stop)) for s in states]
    samples = Samples(int(args.seconds / args.interval) + 2)
    start = last_t = time.monotonic()
    last = [0] * len(states)
    print(f"soak: {args.clients} clients x {args.symbols} symbols, speed {args.speed:g}, {args.seconds:g} s, "
          f"report every {args.interval:g} s", flush=True)
    print(f"{'t s':>6} {'ticks/s per client':>28} {'total/s':>9} {'client RSS':>11} {'blocks':>9} "
          f"{'sim RSS':>9} {'blocks':>9} {'conns':>5} {'queued':>6}", flush=True)
    try:
        while (now := time.monotonic()) - start < args.seconds:
            done, _ = await asyncio.wait(tasks, timeout=min(args.interval, args.seconds - (now - start)))
            for task in done:
                task.result()  # a client that died ends the soak with its exception
            now = time.monotonic()
            counts = [s.ticks for s in states]
            rates = [(c - p) / (now - last_t) for c, p in zip(counts, last, strict=True)]
            last, last_t = counts, now
            pipe.send("stats")
            sim_usage, connections, queued = await asyncio.to_thread(pipe.recv)
            mine = usage()
            samples.add(now - start, sum(rates), mine, sim_usage, connections, queued)
            per = " ".join(f"{r:,.0f}" for r in rates)
            print(f"{now - start:6.0f} {per:>28} {sum(rates):9,.0f} {mine.rss:8.1f} MiB {mine.blocks:9,} "
                  f"{sim_usage.rss:6.1f} MiB {sim_usage.blocks:9,} {connections:5} {queued:6}", flush=True)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    trades = sum(s.trades for s in states)
    errors = [e for s in states for e in s.errors]
    if args.trade_every > 0:
        print(f"trades: {trades} round trips, {len(errors)} errors{': ' + errors[0] if errors else ''}")
    return samples


# --- verdict -------------------------------------------------------------------------------------------


def growth(column: Any) -> tuple[float, float]:
    """``(median of the second third, median of the last third)`` of a column of steady-state samples."""
    third = len(column) // 3
    if third == 0:
        raise ValueError("too few samples after the warm-up: run longer or report more often")
    return float(np.median(column[third : 2 * third])), float(np.median(column[2 * third :]))


def verdict(samples: Samples, args: argparse.Namespace) -> int:
    steady = samples.after(args.warmup)
    totals = steady[:, Samples.TOTAL]
    if not len(totals) or totals.max() == 0:
        print("verdict: no ticks received")
        return 2
    print(f"throughput after warm-up: mean {totals.mean():,.0f} ticks/s in total "
          f"(min {totals.min():,.0f}, max {totals.max():,.0f}), {totals.mean() / args.clients:,.0f} per client")
    flat = True
    for name, rss, blocks in (("client process", Samples.CLIENT_RSS, Samples.CLIENT_BLOCKS),
                              ("simulator process", Samples.SIM_RSS, Samples.SIM_BLOCKS)):
        rss_a, rss_b = growth(steady[:, rss])
        blk_a, blk_b = growth(steady[:, blocks])
        rss_ok = rss_b - rss_a <= max(args.tolerance_mib, 0.02 * rss_a)
        blk_ok = blk_b - blk_a <= 0.02 * blk_a
        flat &= rss_ok and blk_ok
        print(f"{name}: RSS {rss_a:.1f} -> {rss_b:.1f} MiB ({rss_b - rss_a:+.1f}), "
              f"Python blocks {blk_a:,.0f} -> {blk_b:,.0f} ({(blk_b - blk_a) / max(blk_a, 1):+.2%})"
              f"{'' if rss_ok and blk_ok else '  GROWING'}")
    print(f"verdict: memory {'flat' if flat else 'GROWING'} (second third vs last third after "
          f"{args.warmup:g} s of warm-up)")
    return 0 if flat else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=5, help="client connections (default 5)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to run (default 60)")
    parser.add_argument("--speed", type=float, default=300.0,
                        help="simulated seconds per real second, i.e. the tick rate (default 300)")
    parser.add_argument("--symbols", type=int, default=10, help="symbols each client subscribes to (default 10)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between report lines (default 5)")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds left out of the verdict (default 10)")
    parser.add_argument("--trade-every", type=float, default=0.0, metavar="SECONDS",
                        help="each client opens and closes a position at this interval (default 0: never)")
    parser.add_argument("--tolerance-mib", type=float, default=8.0, help="RSS growth still called flat (default 8)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or args.interval <= 0:
        parser.error("--clients, --seconds and --interval must be positive")

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=run_sim, args=(child, args.speed, args.seed), daemon=True)
    process.start()
    try:
        if not parent.poll(60):
            raise RuntimeError("the simulator did not start")
        samples = asyncio.run(soak(args, parent, parent.recv()))
    finally:
        with contextlib.suppress(OSError):
            parent.send("stop")
        process.join(10)
        if process.is_alive():
            process.terminate()
            process.join(5)
    return verdict(samples, args)


if __name__ == "__main__":
    raise SystemExit(main())
