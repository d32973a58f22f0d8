"""The client's own cost of a market order, replayed without sockets (a companion of ``bench_client.py`` (c)).

Run: ``python benchmarks/bench_order_path.py [--profile]``.

A client logs in to the simulator over loopback and records, for one ``buy``, the ``close`` of its position
and a keep-alive request, the encrypted messages the simulator answered with (for an order the command 12
answer, three push 10 and push 19, SPEC §8.8). The client's transport is then switched to a replay: every
message the client sends is answered at once from the recording, and the client runs its whole path
(checks, request packing, encryption, the session's write and read callback, decryption, dispatch, push
decoding, mirror, events, the result) with no socket and no simulator in between. The same tickets come
back on every round, so the history tables and order log the recording adds to are emptied between rounds
(outside the timing), and the action id is rewound to the recorded one. (In the replay every opening deal
changes the balance back, so the account the checks read is worked out for every order, not only after a
close as against the simulator.)

Printed: the p50 of each kind of request through the replay, against the p50 of a bare WebSocket echo
(256 bytes, 1 up and 1 down, on loopback in the same run: the baseline of ``bench_client.py`` (c)). The
keep-alive request shows what the session alone costs per request; ``--profile`` adds a cProfile listing.
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
from pymt5_core.transport import CloseHandler, LargeHandler, MessageHandler
from pymt5_core.wire.enums import Command

NOW_MS = int(datetime(2026, 11, 18, 12, tzinfo=UTC).timestamp() * 1000)
ROUNDS = 2_000
ECHOES = 2_000


class ReplayTransport:
    """A client transport that can answer every message from a script instead (benchmark only).

    Outside a replay, messages go to the real connection and the answers are kept in ``heard``. During a
    replay, ``send`` hands the script's next answers to the session in the loop's next step, as one socket
    read would, with no socket involved.
    """

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.heard: list[bytes] = []
        self.script: deque[list[bytes]] | None = None
        self.on_message: MessageHandler | None = None

    def start(self, on_message: MessageHandler, on_close: CloseHandler, on_large: LargeHandler | None = None) -> None:
        self.on_message = on_message

        def heard(message: bytes | memoryview) -> None:
            self.heard.append(bytes(message))
            on_message(message)

        self.inner.start(heard, on_close)  # whole messages: the recording keeps every answer

    def replay(self, script: deque[list[bytes]] | None) -> None:
        """Answer from ``script`` from now on (None: from the real connection again)."""
        self.script = script

    def send(self, message: bytes) -> None:
        if self.script is None:
            self.inner.send(message)
            return
        asyncio.get_running_loop().call_soon(self._answer, self.script.popleft())

    def _answer(self, messages: list[bytes]) -> None:
        assert self.on_message is not None
        for message in messages:
            self.on_message(message)

    async def close(self) -> None:
        await self.inner.close()

    def abort(self) -> None:
        self.inner.abort()


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


async def replay(rounds: int, profile: bool) -> dict[str, list[float]]:
    """Samples (seconds) of a replayed buy, close and keep-alive request; see the module docstring."""
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
        recorded = []
        for step in ("buy", "close", "ping"):
            transport.heard.clear()
            if step == "buy":
                result = await client.buy("EURUSD", 0.01)
            elif step == "close":
                await client.close(result.order)
            else:
                await client.session.request(Command.PING)
            recorded.append(list(transport.heard))
        buy, close, ping = recorded
        assert (len(buy), len(close), len(ping)) == (5, 5, 1), recorded
        script: deque[list[bytes]] = deque()
        transport.replay(script)
        mirror = client.mirror
        samples: dict[str, list[float]] = {"buy": [], "close": [], "ping": []}
        profiler = cProfile.Profile() if profile else None
        for _ in range(rounds):
            mirror._history_orders.clear()  # the replayed tickets come back each round: forget the last round
            mirror._deals.clear()
            mirror._log.clear()
            client._action_id = action_id
            script.extend([buy, close, ping])
            if profiler:
                profiler.enable()
            start = time.perf_counter()
            placed = await client.buy("EURUSD", 0.01)
            bought = time.perf_counter()
            await client.close(placed.order)
            closed = time.perf_counter()
            await client.session.request(Command.PING)
            pinged = time.perf_counter()
            if profiler:
                profiler.disable()
            assert placed.order == result.order and not mirror.positions
            samples["buy"].append(bought - start)
            samples["close"].append(closed - bought)
            samples["ping"].append(pinged - closed)
        transport.replay(None)
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
        await client.disconnect()
        return samples


def line(name: str, seconds: float, echo: float) -> None:
    print(f"{name:<58} p50 {seconds * 1e6:7.1f} us  vs bare echo {echo * 1e6:5.1f} us  ratio {seconds / echo:5.2f}")


async def main(profile: bool) -> None:
    print(f"pymt5-core order path replayed without sockets ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {ROUNDS} rounds)")
    echo = await echo_p50(ECHOES)
    samples = await replay(ROUNDS, profile)
    p50 = {name: statistics.median(values) for name, values in samples.items()}
    line("market order (buy: 1 up, 5 down)", p50["buy"], echo)
    line("close of its position (1 up, 5 down)", p50["close"], echo)
    line("either of them", statistics.median(samples["buy"] + samples["close"]), echo)
    line("keep-alive request (1 up, 1 down: the session alone)", p50["ping"], echo)


if __name__ == "__main__":
    asyncio.run(main("--profile" in sys.argv))
