"""Bars of several symbols into one pandas DataFrame, cached in Parquet, like ``yfinance.download``.

    PYMT5_URL=wss://... PYMT5_LOGIN=... PYMT5_PASSWORD=... python examples/download_pandas.py

Without ``PYMT5_URL`` it starts the embedded simulator in a background thread and uses its demo account.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from datetime import UTC, datetime, timedelta

from pymt5_core.download import download


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


def main() -> None:
    if os.environ.get("PYMT5_URL"):
        url, login, password = os.environ["PYMT5_URL"], int(os.environ["PYMT5_LOGIN"]), os.environ["PYMT5_PASSWORD"]
    else:
        url, login, password = simulator_in_background()
    end = datetime.now(UTC)
    cache = os.path.join(tempfile.gettempdir(), "pymt5-cache")

    df = download(["EURUSD", "GBPUSD", "USDJPY"], "H1", end - timedelta(days=30), end,
                     url=url, login=login, password=password, cache_dir=cache)
    print(df["close"].tail())                       # columns: (field, symbol)
    print(df["close"].pct_change().corr().round(3))  # correlations of hourly returns

    h2 = download("EURUSD", "H2", end - timedelta(days=5), end, url=url, login=login, password=password)
    print(h2.head())                                 # H2 is built from H1 bars


if __name__ == "__main__":
    main()
