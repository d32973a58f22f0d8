"""The client's own cost of a market order, replayed without sockets (a companion of ``bench_client.py`` (c)).

Run: ``python benchmarks/bench_order_path.py [--profile]``.

A client logs in to the simulator over loopback and records, for one ``buy`` and the ``close`` of its
position, the encrypted messages the simulator answered with (the command 12 answer, three push 10 and push
19 each, SPEC §8.8). The client's transport is then switched to a replay: every message the client sends is
answered at once from the recording, and the client runs its whole path (checks, request packing,
encryption, decryption, session dispatch, push decoding, mirror, events, the result) with no socket and no
simulator in between. The same tickets come back on every replay, so the history tables the recording
adds to are emptied between rounds (outside the timing), and the action id is rewound to the recorded one.

Printed: the p50 of one order (a buy or a close) through the replay, against the p50 of a bare WebSocket echo
(256 bytes, 1 up and 1 down) on the same loopback in the same run, the baseline of ``bench_client.py`` (c).
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import statistics
import sys
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from pymt5_core.client import MT5Client
from pymt5_core.session import Transport, websocket_connector
from pymt5_core.sim import SimServer, VirtualClock

NOW_MS = int(datetime(2026, 11, 18, 12, tzinfo=UTC).timestamp() * 1000)
ROUNDS = 2_000
ECHOES = 2_000


class ReplayTransport:
    """A websockets connection that can be switched to answering every message from a script (benchmark only).

    While ``script`` is None, messages go to the real connection; recorded answers are kept in ``heard``.
    Once a script is set, ``send`` queues the script's next answers and ``recv`` hands them out.
    """

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.heard: list[bytes] = []
        self.script: deque[list[bytes]] | None = None
        self.queue: deque[bytes] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.switch: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def send(self, message: bytes) -> None:
        if self.script is None:
            await self.inner.send(message)
            return
        self.queue.extend(self.script.popleft())
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def recv(self) -> bytes | str:
        if self.script is None:
            real = asyncio.ensure_future(self.inner.recv())
            done, _ = await asyncio.wait({real, self.switch}, return_when=asyncio.FIRST_COMPLETED)
            if real in done:
                message = real.result()
                self.heard.append(message if isinstance(message, bytes) else b"")
                return message
            real.cancel()  # websockets' recv() is cancellation-safe: nothing is lost
        while not self.queue:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return self.queue.popleft()

    async def close(self) -> None:
        await self.inner.close()


async def echo_p50(n: int) -> float:
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    async def handler(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    samples = []
    async with await serve(handler, "127.0.0.1", 0, compression=None) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with connect(url, compression=None) as ws:
            payload = bytes(256)
            for i in range(n + 200):
                start = time.perf_counter()
                await ws.send(payload)
                await ws.recv()
                if i >= 200:
                    samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def replay_orders(rounds: int, profile: bool) -> list[float]:
    async with SimServer(seed=1, clock=VirtualClock.manual(NOW_MS)) as sim:
        transports: list[ReplayTransport] = []
        real = websocket_connector(sim.url, origin="https://127.0.0.1", ssl=None, open_timeout=10.0)

        async def connector() -> Transport:
            transports.append(ReplayTransport(await real()))
            return transports[-1]

        client = MT5Client(sim.url, connector=connector, keepalive_interval=3600.0, dead_after=7200.0)
        await client.connect()
        await client.login(sim.demo_account.login, sim.demo_account.password)
        await client.quote("EURUSD")
        for _ in range(20):  # warm up both sides
            result = await client.buy("EURUSD", 0.01)
            await client.close(result.order)
        transport = transports[-1]
        action_id = client._action_id
        transport.heard.clear()
        result = await client.buy("EURUSD", 0.01)
        buy = list(transport.heard)
        transport.heard.clear()
        await client.close(result.order)
        close = list(transport.heard)
        ticket = result.order
        assert len(buy) == len(close) == 5, (len(buy), len(close))
        transport.script = deque()
        transport.switch.set_result(None)
        mirror = client.mirror
        samples: list[float] = []
        profiler = cProfile.Profile() if profile else None
        for _ in range(rounds):
            mirror._history_orders.clear()
            mirror._deals.clear()
            mirror._log.clear()
            client._action_id = action_id
            transport.script.extend([buy, close])
            if profiler:
                profiler.enable()
            start = time.perf_counter()
            result = await client.buy("EURUSD", 0.01)
            middle = time.perf_counter()
            await client.close(result.order)
            end = time.perf_counter()
            if profiler:
                profiler.disable()
            assert result.order == ticket and not mirror.positions
            samples += [middle - start, end - middle]
        transport.script = None
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(45)
        for task in client.session._link._tasks if client.session._link else ():
            task.cancel()
        return samples


async def main(profile: bool) -> None:
    print(f"pymt5-core order path replay ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    echo = await echo_p50(ECHOES)
    samples = await replay_orders(ROUNDS, profile)
    order = statistics.median(samples)
    print(f"one order through the replayed client path: p50 {order * 1e6:7.1f} us "
          f"(min {min(samples) * 1e6:.1f} us) vs bare echo p50 {echo * 1e6:.1f} us: ratio {order / echo:.2f}")


if __name__ == "__main__":
    asyncio.run(main("--profile" in sys.argv))
