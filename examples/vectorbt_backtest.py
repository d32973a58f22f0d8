"""A vectorbt backtest on MetaTrader 5 bars: ``MT5Data`` -> moving-average cross -> stats and a PNG.

    python examples/vectorbt_backtest.py [OUT.png]
    PYMT5_URL=wss://... PYMT5_LOGIN=... PYMT5_PASSWORD=... python examples/vectorbt_backtest.py

Without ``PYMT5_URL`` it starts the embedded simulator in a background thread and uses its demo account.
Needs ``pymt5-vectorbt`` (``pip install -e adapters/vectorbt``) and matplotlib.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
from pathlib import Path

import vectorbt as vbt
from pymt5_vectorbt import MT5Data
from pymt5_vectorbt.demo import ma_cross, plot_backtest


def simulator_in_background() -> tuple[str, int, str]:
    """Start the embedded simulator on a daemon thread; return its URL and demo credentials."""
    from pymt5_core.sim import SimServer

    ready: dict[str, object] = {}
    started = threading.Event()

    async def serve() -> None:
        async with SimServer(seed=1, speed=60) as sim:
            ready.update(url=sim.url, login=sim.demo_account.login, password=sim.demo_account.password)
            started.set()
            await asyncio.Event().wait()

    threading.Thread(target=lambda: asyncio.run(serve()), daemon=True).start()
    started.wait(30)
    return str(ready["url"]), int(ready["login"]), str(ready["password"])  # type: ignore[call-overload]


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else Path(tempfile.gettempdir()) / "pymt5_vectorbt_backtest.png"
    if os.environ.get("PYMT5_URL"):
        url, login, password = os.environ["PYMT5_URL"], int(os.environ["PYMT5_LOGIN"]), os.environ["PYMT5_PASSWORD"]
    else:
        url, login, password = simulator_in_background()

    # Credentials can also live in vectorbt's settings, like any vectorbt data source's:
    vbt.settings.data["mt5"].update(url=url, login=login, password=password)

    data = MT5Data.download(["EURUSD", "GBPUSD"], timeframe="1h", start="1 year ago UTC")
    data = data.update()  # later: only the new bars are fetched, the forming one is replaced
    print(data.get("Close").tail(3))

    pf = ma_cross(data, fast=20, slow=50)  # Portfolio.from_signals on a 20/50 MA cross
    print(pf.stats(column="EURUSD"))
    print("total return per symbol:")
    print(pf.total_return().round(4))
    print(f"saved {plot_backtest(data, pf, out, fast=20, slow=50)}")


if __name__ == "__main__":
    main(sys.argv[1:])
