"""``pymt5 sim`` / ``python -m pymt5_core.sim``: run the simulated server until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["build_parser", "run_cli"]


def build_parser(kind: type[argparse.ArgumentParser] = argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The argument parser of the ``sim`` command (``kind``: the parser class, e.g. one reporting errors
    differently)."""
    parser = kind(prog="pymt5 sim", description="Run the simulated MT5 access server.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="TCP port, 0 for any free one (default 8765)")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the market and the engine (default 0)")
    parser.add_argument("--accounts", type=Path, metavar="FILE", help="accounts from a .json or .toml file")
    parser.add_argument("--tls", action="store_true", help="serve wss:// with a generated CA (printed)")
    parser.add_argument("--data", type=Path, metavar="FILE", help="replay bars or ticks from a CSV/Parquet file")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log connections (-vv: debug)")
    return parser


def run_cli(args: Sequence[str] | None = None,
            parser_kind: type[argparse.ArgumentParser] = argparse.ArgumentParser) -> int:
    """Parse ``args``, start the simulator, print its URL and demo credentials and serve until interrupted.

    Returns:
        the process exit code.
    """
    options = build_parser(parser_kind).parse_args(args)
    level = logging.WARNING - 10 * min(options.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_serve(options))
    except KeyboardInterrupt:
        pass
    except (OSError, ValueError, KeyError) as exc:
        print(f"pymt5 sim: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(options: argparse.Namespace) -> None:
    from pymt5_core.sim.accounts import load_accounts
    from pymt5_core.sim.server import SimServer

    accounts = load_accounts(options.accounts) if options.accounts else None
    sim = SimServer(
        host=options.host, port=options.port, seed=options.seed, speed=options.speed,
        accounts=accounts, data=options.data, tls=options.tls,
    )
    async with sim:
        account = sim.demo_account
        print(f"simulator listening on {sim.url}")
        print(f"demo account: login {account.login}  password {account.password}")
        if sim.ca_pem is not None:
            print("trust this CA to connect (wss://):")
            print(sim.ca_pem, end="")
        print("press Ctrl+C to stop", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
