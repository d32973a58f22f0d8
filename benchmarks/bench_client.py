"""Client benchmarks against the simulator over loopback; every figure is printed with its target ratio.

Run: ``python benchmarks/bench_client.py``.

(a) bars: 1,000,000 M1 bars downloaded with ``client.bars_df`` into a DataFrame (paged command 11 requests,
    WebSocket receive, decrypt, decode, UTC index) against the floor of the same bytes: AES-decrypting the very
    command 11 messages the client received (recorded off its transport) and ``frombuffer`` of their bars, in
    the same process and run (target <= 3x). The simulator runs in its own process (``multiprocessing``,
    spawn), so it builds and encrypts the bars on the other core and none of its work lands on the client's
    clock. The ratio is the client process's CPU time (``time.process_time``: user + system, so the socket
    reads count) over the floor's CPU time; both are the best of RUNS runs, each producing a result that is
    kept (fresh memory, as a download's result is). The measured downloads repeat a warm-up download, so the
    simulator serves the pages from its cache of finished command 11 bodies, as a server serves stored
    history: the client receives at loopback speed instead of idling ~17 ms per page while the synthetic
    bars are generated (15 messages of this size from a bare server, measured once: 11.5-13.5 ms of the
    transport's CPU time with 17 ms gaps against 8.2-8.4 ms back to back). The end-to-end wall time of the
    download is printed against the same floor: it also holds the simulator encrypting and sending each page
    while the client waits (command 11 requests go one at a time). Three more lines show where the client's
    CPU goes: the CPU time of the client's transport alone receiving messages of the same sizes from a bare
    server (no decryption, no decoding), the same for websockets' asyncio client (what the transport
    replaced, docs/transport.md), and one extra download split into its decrypt, body copy, alignment
    check (made on each page's decoded times, counted apart from the decoding), decode into the result
    (``frombuffer`` and the sink) and DataFrame parts (the rest: WebSocket receive, asyncio, kernel, paging).
(b) ticks: ticks per second through ``client.ticks()`` (decrypt, decode, merge per SPEC §9.1, Tick objects,
    the stream queue) with frames of 10 ticks injected into the client's transport (target >= 100k/s).
(c) orders: p50 round trip of a market order (command 12 to push 19, with the push 10 records applied)
    against a bare WebSocket echo of a 256-byte message on the same loopback (target <= 3x). Reported end
    to end and client-side (the simulator's span of each order measured and taken out).
(d) memory: tracemalloc peak of a 1M-bar ``client.bars`` download in the client process (the simulator's
    allocations are in its own process) against the size of the resulting rates array (target <= 3x).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import statistics
import struct
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pymt5_core import client as client_module
from pymt5_core import rates as rates_module
from pymt5_core.client import MT5Client
from pymt5_core.rates import BarSink
from pymt5_core.session import Transport, websocket_connector
from pymt5_core.sim import SimServer, VirtualClock
from pymt5_core.transport import CloseHandler, LargeHandler, LargeMessage, MessageHandler
from pymt5_core.wire.enums import Command, Period
from pymt5_core.wire.frames import (
    HEADER_SIZE,
    RESPONSE_PREFIX_SIZE,
    IncomingMessage,
    ResponseFrame,
    pack_message,
    unpack_message,
)
from pymt5_core.wire.layouts import LAYOUTS
from pymt5_core.wire.messages import build_ticks

BARS = 1_000_000
PAGE = 100_000
TICKS = 200_000
TICKS_PER_FRAME = 10
ORDERS = 200
RUNS = 5
ECHOES = 2_000
NOW = datetime(2026, 11, 18, 12, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


def ratio_line(name: str, value: float, baseline: float, target: str, unit: str = "s") -> None:
    print(f"{name:<34} {value:10.4f} {unit} vs {baseline:10.4f} {unit}  ratio {value / baseline:6.2f}  ({target})")


class WrappedTransport:
    """A client transport passing sends and closing on to a real one (the base of the benchmarks' transports)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner

    def send(self, message: bytes) -> None:
        self.inner.send(message)

    async def close(self) -> None:
        await self.inner.close()

    def abort(self) -> None:
        self.inner.abort()


class InjectingTransport(WrappedTransport):
    """A client transport that can also deliver messages made up by the benchmark (benchmark only)."""

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner)
        self.on_message: MessageHandler | None = None

    def start(self, on_message: MessageHandler, on_close: CloseHandler, on_large: LargeHandler | None = None) -> None:
        self.on_message = on_message
        self.inner.start(on_message, on_close, on_large)

    def inject(self, messages: list[bytes], per_read: int) -> None:
        """Deliver ``messages`` from the event loop, ``per_read`` of them per step (as socket reads would)."""
        loop = asyncio.get_running_loop()
        for i in range(0, len(messages), per_read):
            loop.call_soon(self._deliver, messages[i:i + per_read])

    def _deliver(self, messages: list[bytes]) -> None:
        assert self.on_message is not None
        for message in messages:
            self.on_message(message)


async def login(sim: SimServer, **kwargs: Any) -> MT5Client:
    client = MT5Client(sim.url, **kwargs)
    await client.connect()
    await client.login(sim.demo_account.login, sim.demo_account.password)
    return client


# --- (a) and (d) bars --------------------------------------------------------------------------------


def serve_sim(conn: Connection) -> None:
    """The simulator of the bars benchmark, in its own process: it answers on the other core.

    Beside it, a bare WebSocket server that answers a text message of comma-separated sizes with binary
    messages of those sizes: the transport's own receive cost, for reference.
    """
    from websockets.asyncio.server import serve as ws_serve

    async def blast(ws: Any) -> None:
        async for sizes in ws:
            for size in map(int, bytes(sizes).split(b",")):
                await ws.send(bytes(size))

    async def serve() -> None:
        async with SimServer(seed=1, clock=VirtualClock.manual(NOW_MS)) as sim, \
                ws_serve(blast, "127.0.0.1", 0, compression=None, max_size=None) as bare:
            port = bare.sockets[0].getsockname()[1]
            conn.send((sim.url, sim.demo_account.login, sim.demo_account.password, f"ws://127.0.0.1:{port}"))
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop

    asyncio.run(serve())


async def transport_receive(url: str, sizes: list[int]) -> tuple[float, float]:
    """Best CPU seconds of receiving messages of ``sizes`` (nothing else): the client's transport, websockets'."""
    from websockets.asyncio.client import connect

    request = ",".join(map(str, sizes)).encode()
    transport = await websocket_connector(url, origin="https://127.0.0.1", ssl=None, open_timeout=10.0)()
    received: list[int] = []
    done: asyncio.Future[None] | None = None

    def on_message(message: bytes | memoryview) -> None:
        received.append(len(message))
        if len(received) == len(sizes) and done is not None:
            done.set_result(None)

    transport.start(on_message, lambda reason: None)
    ours = float("inf")
    for _ in range(RUNS + 1):
        received.clear()
        done = asyncio.get_running_loop().create_future()
        gc.collect()
        start = time.process_time()
        transport.send(request)
        await done
        ours = min(ours, time.process_time() - start)
    await transport.close()
    theirs = float("inf")
    async with connect(url, compression=None, max_size=None) as ws:
        for _ in range(RUNS + 1):
            gc.collect()
            start = time.process_time()
            await ws.send(request)
            for _ in sizes:
                await ws.recv()
            theirs = min(theirs, time.process_time() - start)
    return ours, theirs


class RecordingTransport(WrappedTransport):
    """A client transport that keeps the messages it receives while ``recording`` (benchmark only)."""

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner)
        self.recording = False
        self.received: list[bytes] = []

    def start(self, on_message: MessageHandler, on_close: CloseHandler, on_large: LargeHandler | None = None) -> None:
        def recorded(message: bytes | memoryview) -> None:
            if self.recording:
                self.received.append(bytes(message))
            on_message(message)

        def recorded_large(size: int) -> LargeMessage:
            assert on_large is not None
            return _Recorded(on_large(size), self) if self.recording else on_large(size)

        self.inner.start(recorded, on_close, recorded_large if on_large is not None else None)


class _Recorded:
    """A large message passed on to the session and copied for the recording."""

    def __init__(self, inner: LargeMessage, owner: RecordingTransport) -> None:
        self.inner, self.owner, self.data = inner, owner, bytearray()

    def feed(self, chunk: memoryview) -> None:
        self.data += chunk
        self.inner.feed(chunk)

    def end(self) -> None:
        self.owner.received.append(bytes(self.data))
        self.inner.end()


def bars_floor(messages: list[bytes], key: bytes) -> float:
    """CPU seconds to AES-decrypt the command 11 messages and ``frombuffer`` their bars (kept, like a result).

    The tightest form of that work: a bare ``cryptography`` CBC context per message decrypting straight
    into one unzeroed buffer, and ``frombuffer`` on a view of its bars (no copy, padding not checked).
    """
    dtype = LAYOUTS["Bar"].dtype
    algorithm = algorithms.AES(key)
    start = time.process_time()
    arrays = []
    for message in messages:
        ciphertext = memoryview(message)[HEADER_SIZE:]
        out = np.empty(len(ciphertext) + 15, np.uint8)
        decryptor = Cipher(algorithm, modes.CBC(bytes(16))).decryptor()
        n = decryptor.update_into(ciphertext, out)
        decryptor.finalize()
        end = n - int(out[n - 1])
        arrays.append(np.frombuffer(out.data[RESPONSE_PREFIX_SIZE:end], dtype=dtype))
    elapsed = time.process_time() - start
    assert sum(len(a) for a in arrays) >= BARS
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


class CpuShares:
    """CPU seconds spent in some functions of the client, wrapped for one download (benchmark only).

    Each label sums its functions' own time: a wrapped function called from another one (the alignment
    check from the decoding) counts for its label only, not for the caller's as well.
    """

    def __init__(self, targets: dict[str, list[tuple[Any, str]]]) -> None:
        self.targets = targets
        self.seconds = dict.fromkeys(targets, 0.0)
        self._inner: list[float] = []  # per wrapped call in progress: the time of the wrapped calls it made

    @contextlib.contextmanager
    def wrapped(self) -> Iterator[None]:
        saved = [(owner, name, vars(owner)[name]) for functions in self.targets.values() for owner, name in functions]
        for label, functions in self.targets.items():
            for owner, name in functions:
                setattr(owner, name, self._timed(label, getattr(owner, name)))
        try:
            yield
        finally:
            for owner, name, raw in saved:
                setattr(owner, name, raw)

    def _timed(self, label: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._inner.append(0.0)
            start = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.process_time() - start
                self.seconds[label] += elapsed - self._inner.pop()
                if self._inner:
                    self._inner[-1] += elapsed

        return timed


async def bench_bars() -> None:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(target=serve_sim, args=(theirs,), daemon=True)
    server.start()
    try:
        url, login_id, password, bare_url = ours.recv()
        transports: list[RecordingTransport] = []
        real = websocket_connector(url, origin="https://127.0.0.1", ssl=None, open_timeout=10.0)

        async def connector() -> Transport:
            transports.append(RecordingTransport(await real()))
            return transports[-1]

        client = MT5Client(url, bars_per_request=PAGE, timeout=120.0, connector=connector)
        await client.connect()
        await client.login(login_id, password)

        async def download() -> tuple[float, float, Any]:
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            frame = await client.bars_df("EURUSD", "M1", end=NOW, count=BARS)
            return time.perf_counter() - wall, time.process_time() - cpu, frame

        transports[-1].recording = True  # the warm-up's answers are the bytes of every later download
        _, _, frame = await download()
        transports[-1].recording = False
        link = client.session._link
        assert link is not None
        cipher = link.conn._cipher
        pages = [m for m in transports[-1].received if ResponseFrame.decode(cipher.decrypt_view(
            unpack_message(m))).command == Command.RATES]
        transports[-1].received.clear()
        expected = SimServer(seed=1).model.bars("EURUSD", Period.M1, 0, int(NOW.timestamp()), now_ms=NOW_MS)[-BARS:]
        assert len(frame) == BARS and (frame["close"].to_numpy() == expected["close"]).all()
        del frame
        runs = []
        for _ in range(RUNS):
            wall, cpu, frame = await download()
            runs.append((wall, cpu))
            del frame
        gc.collect()
        key = cipher._algorithm.key  # the session key, for the bare decryption of the floor
        floor = min(bars_floor(pages, key) for _ in range(RUNS))
        wall, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
        size = sum(len(m) for m in pages)
        print(f"bars: {BARS:,} M1 bars in {len(pages)} pages, {size / 2**20:.1f} MiB; best of {RUNS} runs; "
              f"simulator in another process")
        ratio_line("(a) bars client CPU time", cpu, floor, "target <= 3x")
        ratio_line("(a) bars end to end (wall)", wall, floor, "includes the simulator sending the pages")
        mine, theirs = await transport_receive(bare_url, [len(m) for m in pages])
        ratio_line("    transport receive, same sizes", mine, floor, "reference: the client's transport alone")
        ratio_line("    websockets' client, same sizes", theirs, floor, "reference: websockets' asyncio client")
        shares = CpuShares({
            "AES decrypt": [(IncomingMessage, "feed"), (IncomingMessage, "finish")],
            "body copy": [(ResponseFrame, "decode")],
            "alignment check": [(rates_module, "check_bar_times"), (client_module, "check_bar_times")],
            "decode into the result": [(client_module, "read_bars"), (BarSink, "add")],
            "DataFrame": [(BarSink, "result")],
        })
        with shares.wrapped():
            _, total, frame = await download()
        del frame
        parts = ", ".join(f"{label} {seconds * 1e3:.1f}" for label, seconds in shares.seconds.items())
        print(f"    client CPU of one download, ms: {parts}; the rest (WebSocket receive, asyncio, "
              f"kernel, paging) {(total - sum(shares.seconds.values())) * 1e3:.1f}; total {total * 1e3:.1f}")

        gc.collect()
        tracemalloc.start()
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        rates = await client.bars("EURUSD", "M1", end=NOW, count=BARS)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        ratio_line("(d) peak memory / result", (peak - base) / 2**20, rates.nbytes / 2**20, "target <= 3x", "MiB")
        await client.disconnect()
    finally:
        ours.send("stop")
        server.join(10)


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
        transport.inject(messages, per_read=(1 << 18) // len(messages[0]))
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


class SimShare:
    """When the simulator starts and ends its work for one request on its connection.

    The span runs from decrypting the request to writing the last frame of the answer to the socket. The
    simulator shares the event loop with the client, and during that span the client has nothing to run
    (what it waits for is not written yet), so the span is the simulator's own cost: decrypt, dispatch,
    engine, push building, encryption and WebSocket writes. The simulator's WebSocket parsing of the
    request comes before the span and is not taken out.
    """

    def __init__(self, conn: Any) -> None:
        self.start = self.end = 0.0
        receive, write = conn._wire.receive, conn._ws.transport.write

        def received(message: Any) -> Any:
            self.start, self.end = time.perf_counter(), 0.0
            return receive(message)

        def written(data: Any) -> None:
            write(data)
            self.end = time.perf_counter()

        conn._wire.receive = received
        conn._ws.transport.write = written


async def echo_server(sizes: list[int]) -> Any:
    """A bare websockets server on loopback answering every message with ``sizes`` messages (or itself)."""
    from websockets.asyncio.server import serve

    replies = [bytes(n) for n in sizes]

    async def handler(ws: Any) -> None:
        async for message in ws:
            for reply in replies or [message]:
                await ws.send(reply)

    return await serve(handler, "127.0.0.1", 0, compression=None)


async def round_trips(url: str, size: int, replies: int, n: int) -> list[float]:
    from websockets.asyncio.client import connect

    samples = []
    async with connect(url, compression=None) as ws:
        payload = bytes(size)
        for _ in range(n):
            start = time.perf_counter()
            await ws.send(payload)
            for _ in range(replies):
                await ws.recv()
            samples.append(time.perf_counter() - start)
    return samples


async def bench_orders() -> None:
    """(c) p50 of ``client.buy()`` (command 12 sent, push 19 matched, push 10 applied) against a bare echo.

    The echo is a websockets client and server in this process and event loop, as the client and the
    simulator are, with a 256-byte message. A market order is 1 message up and, per SPEC §8.8, 5 down
    (the command 12 answer, three push 10 and push 19); the frames are counted and printed. Reported:

    * end to end: the whole round trip, the simulator included;
    * client side: the round trip minus the simulator's span for that order (see :class:`SimShare`).
      (Earlier versions took out only the engine's ``submit``, which left the simulator's decryption,
      push building, encryption and writes in the client figure.) The echo baseline keeps its server's
      parse and write; the client side keeps the simulator's parse but none of its writes, one server
      write less than the baseline holds;
    * the same frames through the bare echo (the order's message sizes, 1 up and 5 down): what the
      protocol's shape alone costs over the 1-up/1-down echo, and the client side against it.

    Echoes and orders alternate in rounds so that load from elsewhere on the machine hits both alike.
    Each order is closed again before the next, so the account stays flat.
    """
    rounds, per_round = 10, ORDERS // 10
    async with SimServer(seed=1, clock=VirtualClock.manual(NOW_MS)) as sim:
        client = await login(sim)
        await client.symbol("EURUSD")
        await client.quote("EURUSD")
        conn = next(iter(sim._connections))
        link = client.session._link
        assert link is not None
        share = SimShare(conn)
        up: list[int] = []
        down: list[int] = []
        commands: list[int] = []
        transport, wire, on_frame = link._transport, link.conn, link._on_frame
        transport_send, decrypt = transport.send, wire.receive

        def counted_send(message: bytes) -> None:
            up.append(len(message))
            transport_send(message)

        def counted_decrypt(message: Any) -> Any:
            down.append(len(message))
            return decrypt(message)

        def counted_frame(frame: Any) -> None:
            commands.append(frame.command)
            on_frame(frame)

        async def order() -> tuple[float, float]:
            start = time.perf_counter()
            result = await client.buy("EURUSD", 0.01)
            elapsed = time.perf_counter() - start
            span = share.end - share.start if start < share.start < share.end else 0.0
            await client.close(result.order)  # keep the account flat: the engine's cost grows with positions
            return elapsed, span

        for _ in range(20):
            await order()
        transport.send, wire.receive, link._on_frame = counted_send, counted_decrypt, counted_frame  # type: ignore
        result = await client.buy("EURUSD", 0.01)
        transport.send, wire.receive, link._on_frame = transport_send, decrypt, on_frame  # type: ignore
        await client.close(result.order)
        totals: list[float] = []
        clients: list[float] = []
        echoes: list[float] = []
        shaped: list[float] = []
        async with await echo_server([]) as bare, await echo_server(down) as fan:
            bare_url = f"ws://127.0.0.1:{bare.sockets[0].getsockname()[1]}"
            fan_url = f"ws://127.0.0.1:{fan.sockets[0].getsockname()[1]}"
            await round_trips(bare_url, 256, 1, 200)
            await round_trips(fan_url, up[0], len(down), 200)
            for _ in range(rounds):
                echoes += await round_trips(bare_url, 256, 1, ECHOES // rounds)
                shaped += await round_trips(fan_url, up[0], len(down), ECHOES // rounds)
                for _ in range(per_round):
                    elapsed, span = await order()
                    totals.append(elapsed)
                    clients.append(elapsed - span)
        await client.disconnect()
    echo_p50, shaped_p50 = statistics.median(echoes) * 1e3, statistics.median(shaped) * 1e3
    order_p50, client_p50 = statistics.median(totals) * 1e3, statistics.median(clients) * 1e3
    print(f"(c) frames of a market order: {len(up)} up ({up[0]} B), {len(down)} down (commands "
          f"{', '.join(map(str, commands))}: {', '.join(map(str, down))} B)")
    ratio_line("(c) market order p50 end to end", order_p50, echo_p50, "includes the simulator", "ms")
    ratio_line("(c) market order p50 client side", client_p50, echo_p50, "target <= 3x", "ms")
    ratio_line("(c) same frames, bare echo p50", shaped_p50, echo_p50, "the protocol's shape alone", "ms")
    ratio_line("(c) client side vs same frames echo", client_p50, shaped_p50, "for reference", "ms")


async def main(parts: list[str]) -> None:
    """Run the benchmarks named on the command line (``bars``, ``ticks``, ``orders``), all by default."""
    print(f"pymt5-core client benchmarks ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    benches = {"bars": bench_bars, "ticks": bench_ticks, "orders": bench_orders}
    for name, bench in benches.items():
        if not parts or name in parts:
            await bench()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(sys.argv[1:]))
