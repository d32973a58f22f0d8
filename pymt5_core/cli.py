"""The ``pymt5`` command line.

::

    pymt5 info                                   account, server and connection summary
    pymt5 symbols [--group MASK]                 symbols, filtered like symbols_get(group=...)
    pymt5 download SYMBOL... -o FILE.csv|.parquet [--timeframe H1 --start ... --end ... --plot FILE.png]
    pymt5 dump --out FILE.jsonl [--seconds N]    record a session's decoded frames (secrets redacted)
    pymt5 sim ...                                run the simulated server (see ``pymt5 sim --help``)
    pymt5 demo                                   the tour on the embedded simulator

Connection: ``--url --login --password`` or ``PYMT5_URL``/``PYMT5_LOGIN``/``PYMT5_PASSWORD``; a missing
password is asked for when a terminal is attached. Without a URL, ``info``, ``symbols``, ``download`` and
``dump`` start the embedded simulator and use its demo account (a note says so on stderr).

Errors are one line on stderr, never a traceback: exit status 2 for bad usage (arguments, options,
credentials; checked before connecting), 1 when the server or the connection fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from pymt5_core._validate import check_login, check_url
from pymt5_core.errors import InvalidRequest, MT5Error

if TYPE_CHECKING:
    import pandas as pd

    from pymt5_core.client import MT5Client

__all__ = ["main"]

#: Speed of the embedded simulator's clock for the CLI (simulated seconds per real second).
SIM_SPEED = 60


def _err(text: str) -> None:
    print(f"pymt5: {text}", file=sys.stderr)


class _UsageError(Exception):
    """A command line argparse refused."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors become one line (and exit status 2) in :func:`main`."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: {message}")


def _positive(kind: type[float] | type[int]) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected a positive number, not {text}")
        return value

    return parse


@contextlib.asynccontextmanager
async def _target(args: argparse.Namespace) -> AsyncIterator[tuple[str, int, str]]:
    """Yield ``(url, login, password)``: the given server, or the embedded simulator's demo account."""
    url = args.url or os.environ.get("PYMT5_URL")
    if not url:
        from pymt5_core.sim import SimServer

        _err("no --url or PYMT5_URL: using the embedded simulator (demo account)")
        async with SimServer(seed=1, speed=SIM_SPEED) as sim:
            yield sim.url, sim.demo_account.login, sim.demo_account.password
        return
    check_url(url)
    login = args.login or os.environ.get("PYMT5_LOGIN")
    if not login:
        raise InvalidRequest("no account: pass --login or set PYMT5_LOGIN")
    try:
        account = check_login(login)
    except InvalidRequest:
        raise InvalidRequest(f"--login must be an account number, not {login!r}") from None
    password = args.password or os.environ.get("PYMT5_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            raise InvalidRequest("no password: pass --password, set PYMT5_PASSWORD or run in a terminal")
        password = getpass.getpass(f"password for {login}: ")
    yield url, account, password


@contextlib.asynccontextmanager
async def _client(args: argparse.Namespace) -> AsyncIterator[MT5Client]:
    from pymt5_core.client import MT5Client

    async with _target(args) as (url, login, password), MT5Client(url) as client:
        await client.login(login, password)
        yield client


# --- commands -------------------------------------------------------------------------------------------


async def _info(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        acc = await client.account()
        symbols = await client.symbols()
        rows = [
            ("server", f"{acc.server} (build {client.server_build})"), ("company", acc.company),
            ("account", f"{acc.login} {acc.name}"), ("currency", acc.currency), ("leverage", f"1:{acc.leverage}"),
            ("balance", f"{acc.balance:,.2f}"), ("equity", f"{acc.equity:,.2f}"),
            ("margin free", f"{acc.margin_free:,.2f}"), ("hedging", "yes" if acc.hedging else "no (netting)"),
            ("time offset", f"{client.server_time_offset / 3600:+g} h"), ("symbols", str(len(symbols))),
        ]
        width = max(len(k) for k, _ in rows)
        for key, value in rows:
            print(f"{key:<{width}}  {value}")
    return 0


async def _symbols(args: argparse.Namespace) -> int:
    from pymt5_core._symbol_mask import SymbolMask

    mask = SymbolMask(args.group)
    async with _client(args) as client:
        chosen = [s for s in await client.symbols() if mask(s.name, s.path)]
    for s in sorted(chosen, key=lambda s: s.name):
        print(f"{s.name:<16} {s.digits:>2}  {s.path:<32} {s.description}")
    _err(f"{len(chosen)} symbols")
    return 0


async def _download(args: argparse.Namespace) -> int:
    from pymt5_core.download import _validate, download_async

    out = Path(args.output)
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise InvalidRequest(f"-o must end in .csv or .parquet, not {out.name!r}")
    for path in (out, Path(args.plot) if args.plot else None):
        if path is not None and not path.parent.is_dir():
            raise InvalidRequest(f"no directory {str(path.parent)!r} for {path.name!r}")
    symbols = args.symbols[0] if len(args.symbols) == 1 else args.symbols  # one symbol: flat columns
    _validate(symbols, args.timeframe, args.start, args.end, "ticker", now=2**31 - 1)  # before connecting
    async with _client(args) as client:
        df = await download_async(symbols, args.timeframe, args.start, args.end, client=client,
                                  progress=not args.no_progress, cache_dir=args.cache_dir, group_by="ticker")
    if out.suffix.lower() == ".csv":
        df.to_csv(out)
    else:
        df.to_parquet(out)
    _err(f"{len(df)} bars x {len(args.symbols)} symbols -> {out}")
    if args.plot:
        _plot(df, args.symbols, Path(args.plot), args.timeframe)
        _err(f"plot -> {args.plot}")
    return 0


def _plot(df: pd.DataFrame, symbols: list[str], path: Path, timeframe: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(symbols), 1, figsize=(10, 2.8 * len(symbols)), sharex=True, squeeze=False)
    for ax, symbol in zip(axes[:, 0], symbols, strict=True):
        close = df[symbol]["close"] if len(symbols) > 1 else df["close"]
        ax.plot(close.index, close.to_numpy(), linewidth=0.8)
        ax.set_title(f"{symbol} {timeframe} close", fontsize=10)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def _dump(args: argparse.Namespace) -> int:
    from pymt5_core.dump import record_session

    async with _target(args) as (url, login, password):
        count = await record_session(url, args.out, login, password, seconds=args.seconds)
    _err(f"{count} frames -> {args.out} (passwords, OTPs, blobs, tokens and keys redacted)")
    return 0


def _sim(args: argparse.Namespace) -> int:
    from pymt5_core.sim.cli import run_cli

    return int(run_cli(list(args.sim_args), _Parser) or 0)


def _demo(args: argparse.Namespace) -> int:
    from pymt5_core.demo import run_demo

    return run_demo(ticks=args.ticks)


# --- parser ---------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pymt5", description="MetaTrader 5 over the web terminal protocol")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    conn = _Parser(add_help=False)
    group = conn.add_argument_group("connection (default: PYMT5_URL, PYMT5_LOGIN, PYMT5_PASSWORD)")
    group.add_argument("--url", help="web terminal WebSocket URL; without it, the embedded simulator")
    group.add_argument("--login", help="account number")
    group.add_argument("--password", help="password (asked for when missing and a terminal is attached)")

    p = sub.add_parser("info", parents=[conn], help="account and server summary")
    p.set_defaults(run=_info)

    p = sub.add_parser("symbols", parents=[conn], help="list symbols")
    p.add_argument("--group", default="*", metavar="MASK", help='e.g. "*USD*,!*JPY*" (name or path)')
    p.set_defaults(run=_symbols)

    p = sub.add_parser("download", parents=[conn], help="download bars to CSV or Parquet")
    p.add_argument("symbols", nargs="+", metavar="SYMBOL")
    p.add_argument("--timeframe", "-t", default="H1", help="M1 ... MN1, also M2/M3/.../H2/H6/... (default H1)")
    p.add_argument("--start", help="ISO date/time, UTC unless an offset is given (default: 1000 bars back)")
    p.add_argument("--end", help="ISO date/time, UTC unless an offset is given (default: now)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="FILE.csv or FILE.parquet")
    p.add_argument("--plot", metavar="FILE.png", help="also plot the close prices")
    p.add_argument("--cache-dir", help="Parquet bar cache: fetch only what is missing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=_download)

    p = sub.add_parser("dump", parents=[conn], help="record decoded frames as JSON lines (secrets redacted)")
    p.add_argument("--out", required=True, metavar="FILE.jsonl")
    p.add_argument("--seconds", type=_positive(float), default=5.0, help="how long to stream ticks (default 5)")
    p.set_defaults(run=_dump)

    p = sub.add_parser("sim", help="run the simulated server", add_help=False)
    p.add_argument("sim_args", nargs=argparse.REMAINDER)
    p.set_defaults(run=_sim)

    p = sub.add_parser("demo", help="the tour on the embedded simulator (what `make demo` runs)")
    p.add_argument("--ticks", type=_positive(int), default=12, help="ticks to stream (default 12)")
    p.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pymt5`` command; returns the exit status (0 ok, 1 error, 2 usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from websockets.exceptions import WebSocketException

    try:
        if argv[:1] == ["sim"]:  # everything after "sim", options included, belongs to the simulator's CLI
            return _sim(argparse.Namespace(sim_args=argv[1:]))
        args = _parser().parse_args(argv)
        result: Any = args.run(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result)
    except _UsageError as exc:
        print(f"{exc} (see --help)", file=sys.stderr)
        return 2
    except InvalidRequest as exc:
        _err(str(exc))
        return 2
    except (MT5Error, OSError, WebSocketException) as exc:  # the server or the network failed
        _err(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
