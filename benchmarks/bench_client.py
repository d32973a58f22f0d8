"""Client benchmarks against the simulator over loopback; every figure is printed with its target ratio.

Run: ``python benchmarks/bench_client.py``.

(a) bars: 1,000,000 M1 bars downloaded into a DataFrame (paged command 11 requests, decrypt, decode,
    convert) against the floor of the same work: AES-decrypting the same pages and ``frombuffer`` of the
    plaintext (target <= 3x). Reported twice: end to end (includes the simulator building the bars on the
    same CPU) and client-side (the simulator's share measured on its own and taken out).
(b) ticks: ticks per second through ``client.ticks()`` (decrypt, decode, merge per SPEC §9.1, Tick objects,
    the stream queue) with frames of 10 ticks injected into the client's transport (target >= 100k/s).
(c) orders: p50 round trip of a market order (command 12 to push 19, with the push 10 records applied)
    against a bare WebSocket echo of a 256-byte message on the same loopback (target <= 3x).
(d) memory: tracemalloc peak of the 1M-bar download against the size of the result (target <= 3x).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import statistics
import struct
import time
import tracemalloc
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np

from pymt5_core.client import MT5Client
from pymt5_core.session import Transport, websocket_connector
from pymt5_core.sim import SimServer, VirtualClock
from pymt5_core.wire.enums import Command, Period
from pymt5_core.wire.frames import FrameCipher, ResponseFrame, pack_message
from pymt5_core.wire.layouts import LAYOUTS
from pymt5_core.wire.messages import build_ticks

BARS = 1_000_000
PAGE = 100_000
TICKS = 200_000
TICKS_PER_FRAME = 10
ORDERS = 200
ECHOES = 2_000
NOW = datetime(2026, 11, 18, 12, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


def ratio_line(name: str, value: float, baseline: float, target: str, unit: str = "s") -> None:
    print(f"{name:<34} {value:10.4f} {unit} vs {baseline:10.4f} {unit}  ratio {value / baseline:6.2f}  ({target})")


class InjectingTransport:
    """A websockets connection whose ``recv`` first hands out injected messages (benchmark only)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.injected: deque[bytes] = deque()
        self.wake: asyncio.Event = asyncio.Event()

    async def send(self, message: bytes) -> None:
        await self.inner.send(message)

    async def recv(self) -> bytes | str:
        while not self.injected:
            real = asyncio.ensure_future(self.inner.recv())
            woken = asyncio.ensure_future(self.wake.wait())
            try:
                done, _ = await asyncio.wait({real, woken}, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                real.cancel()
                woken.cancel()
                raise
            woken.cancel()
            self.wake.clear()
            if real in done:
                return real.result()
            real.cancel()  # websockets' recv() is cancellation-safe: nothing is lost
            with contextlib.suppress(asyncio.CancelledError):
                message = await real
                self.injected.append(message)
        return self.injected.popleft()

    async def close(self) -> None:
        await self.inner.close()


async def login(sim: SimServer, **kwargs: Any) -> MT5Client:
    client = MT5Client(sim.url, **kwargs)
    await client.connect()
    await client.login(sim.demo_account.login, sim.demo_account.password)
    return client


# --- (a) and (d) bars --------------------------------------------------------------------------------


async def download(sim: SimServer) -> tuple[float, Any]:
    client = await login(sim, bars_per_request=PAGE, timeout=120.0)
    start = time.perf_counter()
    frame = await client.bars_df("EURUSD", "M1", end=NOW, count=BARS)
    elapsed = time.perf_counter() - start
    await client.disconnect()
    return elapsed, frame


def baseline_pages(sim: SimServer, end_s: int, count: int) -> tuple[list[bytes], FrameCipher]:
    """The command 11 answers of the same download, encrypted as the server sends them."""
    bars = sim.model.bars("EURUSD", Period.M1, 0, end_s, now_ms=NOW_MS)[-count:]
    raw = LAYOUTS["Bar"].pack_array(bars) if bars.dtype != LAYOUTS["Bar"].dtype else bars.tobytes()
    cipher = FrameCipher(bytes(range(32)))
    size = LAYOUTS["Bar"].size
    pages = [pack_message(cipher.encrypt(ResponseFrame(11, 0, raw[i:i + PAGE * size]).encode()))
             for i in range(0, len(raw), PAGE * size)]
    return pages, cipher


def decode_floor(pages: list[bytes], cipher: FrameCipher) -> float:
    dtype = LAYOUTS["Bar"].dtype
    start = time.perf_counter()
    arrays = [np.frombuffer(cipher.decrypt(memoryview(p)[8:])[5:], dtype=dtype) for p in pages]
    total = sum(len(a) for a in arrays)
    elapsed = time.perf_counter() - start
    assert total >= BARS * 0.99
    return elapsed


class Stopwatch:
    """Accumulates the time spent in wrapped simulator calls (it shares the process with the client)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.calls: list[float] = []

    def wrap(self, owner: Any, name: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.calls.append(time.perf_counter() - start)
                self.total += self.calls[-1]

        setattr(owner, name, timed)


def encrypt_cost(pages: list[bytes], cipher: FrameCipher) -> float:
    plains = [cipher.decrypt(memoryview(p)[8:]) for p in pages]
    start = time.perf_counter()
    for plain in plains:
        pack_message(cipher.encrypt(plain))
    return time.perf_counter() - start


async def bench_bars() -> None:
    async with SimServer(seed=1, clock=VirtualClock.manual(NOW_MS)) as sim:
        await download(sim)  # warm the model's caches, as a long-running server has them
        watch = Stopwatch()
        watch.wrap(sim.model, "bars_wire")
        elapsed, frame = await download(sim)
        pages, cipher = baseline_pages(sim, int(NOW.timestamp()), len(frame))
        floor = min(decode_floor(pages, cipher) for _ in range(3))
        share = watch.total + encrypt_cost(pages, cipher)
        print(f"bars: {len(frame):,} M1 bars in {len(pages)} pages")
        ratio_line("(a) bars end to end", elapsed, floor, "includes the simulator; target <= 3x")
        ratio_line("(a) bars client side", max(elapsed - share, 1e-9), floor, "target <= 3x")
        del frame
        gc.collect()
        tracemalloc.start()
        client = await login(sim, bars_per_request=PAGE, timeout=120.0)
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        rates = await client.bars("EURUSD", "M1", end=NOW, count=BARS)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        await client.disconnect()
        ratio_line("(d) peak memory / result", (peak - base) / 2**20, rates.nbytes / 2**20, "target <= 3x", "MiB")


# --- (b) ticks ---------------------------------------------------------------------------------------


async def bench_ticks() -> None:
    async with SimServer(seed=1, clock=VirtualClock.manual(NOW_MS)) as sim:
        transports: list[InjectingTransport] = []
        real = websocket_connector(sim.url, origin="https://127.0.0.1", ssl=None, open_timeout=10.0)

        async def connector() -> Transport:
            transport = InjectingTransport(await real())
            transports.append(transport)
            return transport

        client = await login(sim, connector=connector, stream_maxlen=TICKS + 10)
        names = ["EURUSD", "GBPUSD", "USDJPY", "AUDUSD"]
        syms = [client._symbols[n] for n in names]
        stream = client.ticks(names)
        await client._watch_ticks(stream, add=True)
        stream._started = True
        link = client.session._link
        assert link is not None
        cipher = link.conn._cipher
        rec = LAYOUTS["Tick"].empty_array(TICKS)
        rec["symbol_id"] = [syms[i % len(syms)].id for i in range(TICKS)]
        seconds = NOW_MS // 1000 + 10 + np.arange(TICKS) // 1000
        rec["tick_time"] = seconds
        rec["time_ms_delta"] = np.arange(TICKS) % 1000
        rec["fields"] = 3
        mid = np.array([s.scale for s in syms])[np.arange(TICKS) % len(syms)]
        walk = np.cumsum(np.random.default_rng(1).integers(-2, 3, TICKS))
        rec["bid"] = np.round(mid * 1.1) + walk
        rec["ask"] = rec["bid"] + 10
        messages = [pack_message(cipher.encrypt(struct.pack("<HHB", 0, Command.TICKS, 0)
                                                + build_ticks(rec[i:i + TICKS_PER_FRAME])))
                    for i in range(0, TICKS, TICKS_PER_FRAME)]
        transport = transports[-1]
        start = time.perf_counter()
        transport.injected.extend(messages)
        transport.wake.set()
        got = 0
        while got < TICKS:
            got += len(await stream.next_batch())
        elapsed = time.perf_counter() - start
        rate = got / elapsed
        print(f"(b) ticks through ticks(): {got:,} ticks in {elapsed:.3f} s = {rate:,.0f} ticks/s "
              f"(target >= 100,000/s; ratio {rate / 100_000:.2f})")
        await stream.aclose()
        await client.disconnect()


# --- (c) order round trip ----------------------------------------------------------------------------


async def p50(operation: Callable[[], Awaitable[Any]], n: int) -> float:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await operation()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def bench_orders() -> None:
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
            payload = bytes(256)

            async def round_trip() -> None:
                await ws.send(payload)
                await ws.recv()

            await p50(round_trip, 200)
            echo_p50 = await p50(round_trip, ECHOES)
    async with SimServer(seed=1, clock=VirtualClock.manual(NOW_MS)) as sim:
        client = await login(sim)
        await client.symbol("EURUSD")
        await client.quote("EURUSD")
        watch = Stopwatch()
        watch.wrap(sim.engine, "submit")
        totals, clients = [], []
        for i in range(ORDERS + 20):
            before = len(watch.calls)
            start = time.perf_counter()
            result = await client.buy("EURUSD", 0.01)
            elapsed = time.perf_counter() - start
            engine = sum(watch.calls[before:])
            await client.close(result.order)  # keep the account flat: the engine's cost grows with positions
            if i >= 20:
                totals.append(elapsed)
                clients.append(elapsed - engine)
        await client.disconnect()
    order_p50, client_p50 = statistics.median(totals), statistics.median(clients)
    ratio_line("(c) market order p50 end to end", order_p50 * 1e3, echo_p50 * 1e3, "includes the engine", "ms")
    ratio_line("(c) market order p50 client side", client_p50 * 1e3, echo_p50 * 1e3, "target <= 3x", "ms")


async def main() -> None:
    print(f"pymt5-core client benchmarks ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    await bench_bars()
    await bench_ticks()
    await bench_orders()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
