"""Simulator tick throughput: ticks per second pushed to 10 subscribed connections, counted by the clients.

The simulator runs in its own process with a fast clock (every default symbol, a weekday morning); ten
wire-level clients in this process log in, subscribe to every symbol and decrypt and count the Tick
records of every push 8 during a fixed window. For scale, the same clients then read from a baseline
server that does nothing but encrypt and send push 8 frames of the same size in a loop: the ratio says
how close the simulator gets to the cost of the transport and the crypto alone.

The simulator streams what its clock makes due, so its rate follows ``--speed``; the server's CPU time
over the window turns both phases into ticks per CPU second, the comparable cost figure.

Run: ``python benchmarks/bench_sim_ticks.py`` (about 15 s). Prints
``sim ticks: N ticks/s to 10 connections (target >= 50000)``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from pymt5_core.wire import messages as msg
from pymt5_core.wire.enums import Command
from pymt5_core.wire.frames import ClientConnection

CONNECTIONS = 10
TARGET = 50_000
TICK_SIZE = 50
#: A Wednesday morning: every default symbol is quoted.
START_MS = int(datetime(2026, 3, 4, 8, 0, tzinfo=UTC).timestamp() * 1000)


# --- servers (child processes) ----------------------------------------------------------------------


def _cpu_reporter(pipe: Connection) -> None:
    """Answer each "mark" with this process's CPU time; return on "stop"."""
    while pipe.recv() != "stop":
        pipe.send(time.process_time())


def _run_sim(pipe: Connection, speed: float) -> None:
    from pymt5_core.sim import SimServer, VirtualClock

    async def main() -> None:
        async with SimServer(seed=1, clock=VirtualClock(speed, START_MS)) as sim:
            pipe.send((sim.url, sim.demo_account.login, sim.demo_account.password))
            await asyncio.get_running_loop().run_in_executor(None, _cpu_reporter, pipe)

    asyncio.run(main())


def _run_baseline(pipe: Connection, ticks_per_frame: int) -> None:
    from websockets.asyncio.server import ServerConnection as WebSocket
    from websockets.asyncio.server import serve

    from pymt5_core.wire.frames import ServerConnection

    body = bytes(range(256)) * (ticks_per_frame * TICK_SIZE // 256 + 1)
    body = body[: ticks_per_frame * TICK_SIZE]

    async def handler(ws: WebSocket) -> None:
        conn = ServerConnection()
        request = conn.receive(await ws.recv())  # type: ignore[arg-type]
        await ws.send(conn.accept_bootstrap(request, os.urandom(64), os.urandom(32)))
        await ws.recv()  # the client's first request: from then on stream
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.send(conn.push(Command.TICKS, body))  # encrypt + send, nothing else

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
            port = server.sockets[0].getsockname()[1]
            pipe.send((f"ws://127.0.0.1:{port}/terminal", 0, ""))
            await asyncio.get_running_loop().run_in_executor(None, _cpu_reporter, pipe)

    asyncio.run(main())


# --- clients (this process) ---------------------------------------------------------------------------


async def _client(url: str, login: int, password: str, ids: list[int], start: float, end: float) -> tuple[int, int]:
    """Count the Tick records (and frames) of push 8 received during ``[start, end)`` (monotonic seconds)."""
    wire = ClientConnection()
    async with connect(url, compression=None, ping_interval=None, max_size=None) as ws:
        await ws.send(wire.bootstrap())
        wire.receive(await ws.recv())  # type: ignore[arg-type]
        if login:
            await ws.send(wire.request(Command.LOGIN, msg.build_login_request(login, password)))
            await ws.send(wire.request(Command.SUBSCRIBE_TICKS, msg.build_id_list(ids)))
        else:
            await ws.send(wire.request(Command.PING))
        ticks = frames = 0
        while (now := time.monotonic()) < end:
            try:
                message = await asyncio.wait_for(ws.recv(), end - now)
            except TimeoutError:
                break
            frame = wire.receive(message)  # type: ignore[arg-type]
            if frame.command == Command.TICKS and time.monotonic() >= start:
                ticks += len(msg.read_ticks(frame.body))
                frames += 1
    return ticks, frames


async def _measure(
    url: str, login: int, password: str, warmup: float, seconds: float, pipe: Connection
) -> tuple[float, float, float]:
    start = time.monotonic() + warmup
    ids = list(range(1, 26))
    clients = asyncio.gather(*(_client(url, login, password, ids, start, start + seconds) for _ in range(CONNECTIONS)))
    await asyncio.sleep(warmup)  # only to place the CPU marks around the window; frames are what is counted
    pipe.send("mark")
    cpu0 = pipe.recv()
    results = await clients
    pipe.send("mark")
    cpu = (pipe.recv() - cpu0) / seconds
    ticks = sum(t for t, _ in results)
    frames = sum(f for _, f in results)
    return ticks / seconds, ticks / max(frames, 1), cpu


def _with_server(target: object, arg: float, warmup: float, seconds: float) -> tuple[float, float, float]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=target, args=(child, arg), daemon=True)
    process.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("server did not start")
        url, login, password = parent.recv()
        return asyncio.run(_measure(url, login, password, warmup, seconds, parent))
    finally:
        parent.send("stop")
        process.join(5)
        if process.is_alive():
            process.terminate()
            process.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=1000.0, help="simulated seconds per real second")
    parser.add_argument("--seconds", type=float, default=4.0, help="measuring window of the simulator phase")
    args = parser.parse_args()

    rate, per_frame, cpu = _with_server(_run_sim, args.speed, 1.0, args.seconds)
    baseline, _, base_cpu = _with_server(_run_baseline, max(int(per_frame), 1), 0.5, args.seconds / 2)
    print(f"sim ticks: {rate:.0f} ticks/s to {CONNECTIONS} connections (target >= {TARGET})")
    print(f"  speed {args.speed:g}: {per_frame:.0f} ticks per push 8 frame, server busy {cpu:.0%} of a core, "
          f"{rate / max(cpu, 1e-9):.0f} ticks per server CPU second")
    print(f"  baseline, encrypt + send frames of that size and nothing else: {baseline:.0f} ticks/s, "
          f"{baseline / max(base_cpu, 1e-9):.0f} per server CPU second")
    print(f"  simulator cost per tick = {baseline / max(base_cpu, 1e-9) / max(rate / max(cpu, 1e-9), 1e-9):.1f}x "
          "the baseline's (the rest is the model, statistics and framing)")


if __name__ == "__main__":
    main()
