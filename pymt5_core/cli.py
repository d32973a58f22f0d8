"""The ``pymt5`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _wire_demo(_: argparse.Namespace) -> int:
    """Build a bootstrap and a rates request, then decode a bars body: the wire layer end to end."""
    from pymt5_core.wire import LAYOUTS
    from pymt5_core.wire.enums import Period
    from pymt5_core.wire.frames import ClientConnection
    from pymt5_core.wire.messages import build_rates_request, read_bars

    conn = ClientConnection()
    hello = conn.bootstrap(random=(0, 0))
    print(f"bootstrap message: {len(hello)} bytes ({hello[:16].hex()}...)")
    payload = build_rates_request("EURUSD", Period.H1, 1_700_000_000, 1_700_086_400)
    print(f"rates request payload: {len(payload)} bytes")
    bars = LAYOUTS["Bar"].empty_array(3)
    bars["time"] = [1_700_002_800, 1_700_006_400, 1_700_010_000]
    bars["open"] = bars["high"] = bars["low"] = bars["close"] = 1.08345
    decoded = read_bars(LAYOUTS["Bar"].pack_array(bars), Period.H1)
    print(f"decoded {len(decoded)} H1 bars, first open {decoded['open'][0]}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pymt5`` command."""
    parser = argparse.ArgumentParser(prog="pymt5", description="MetaTrader 5 over the web terminal protocol")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the main job on the embedded simulator").set_defaults(func=_wire_demo)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
