"""Quick start with the async client: log in, read the account, get bars, stream ticks, trade.

    PYMT5_URL=wss://... PYMT5_LOGIN=... PYMT5_PASSWORD=... python examples/quickstart_async.py

Without ``PYMT5_URL`` it starts the embedded simulator and uses its demo account.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from pymt5_core.client import MT5Client
from pymt5_core.models import RequestAction, TradeRequest
from pymt5_core.wire.enums import OrderType


@contextlib.asynccontextmanager
async def server() -> AsyncIterator[tuple[str, int, str]]:
    """The server from the environment, or the embedded simulator."""
    if os.environ.get("PYMT5_URL"):
        yield os.environ["PYMT5_URL"], int(os.environ["PYMT5_LOGIN"]), os.environ["PYMT5_PASSWORD"]
        return
    from pymt5_core.sim import SimServer

    async with SimServer(seed=1, speed=60) as sim:
        yield sim.url, sim.demo_account.login, sim.demo_account.password


async def main() -> None:
    async with server() as (url, login, password), MT5Client(url) as client:
        account = await client.login(login, password)
        print(f"{account.login} on {account.server}: balance {account.balance:,.2f} {account.currency}")

        end = datetime.now(UTC)
        df = await client.bars_df("EURUSD", "M15", end - timedelta(days=1), end)
        print(df.tail(3))

        async for n, tick in aenumerate(client.ticks(["EURUSD", "GBPUSD"])):
            print(f"{tick.symbol} {tick.bid} / {tick.ask}")
            if n == 4:
                break

        if os.environ.get("PYMT5_URL") is None:  # trade only on the simulator
            result = await client.order_send(TradeRequest(RequestAction.DEAL, "EURUSD", 0.1, OrderType.BUY))
            print(f"bought: retcode {result.retcode}, deal {result.deal}")
            for position in await client.positions():
                print(f"position {position.ticket}: {position.volume} {position.symbol} @ {position.price_open}")


async def aenumerate(items: AsyncIterator[object]) -> AsyncIterator[tuple[int, object]]:
    """``enumerate`` for async iterators."""
    n = 0
    async for item in items:
        yield n, item
        n += 1


if __name__ == "__main__":
    asyncio.run(main())
