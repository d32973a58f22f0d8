"""A small vectorbt backtest on MT5 bars: the vectorbt section of ``pymt5 demo``.

:func:`demo_section` downloads hourly bars with :class:`~pymt5_vectorbt.MT5Data`, runs a moving-average
cross with ``vbt.Portfolio.from_signals``, prints the main statistics and saves a PNG (matplotlib,
no pyplot state and no kaleido). Importing this module adds the section to ``pymt5_core.demo`` when
that module is available.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import vectorbt as vbt

from pymt5_vectorbt.data import MT5Data

__all__ = ["DemoResult", "demo_section", "ma_cross", "plot_backtest"]

DemoResult = dict[str, Any]

_STATS = ("Total Return [%]", "Benchmark Return [%]", "Total Trades", "Win Rate [%]", "Max Drawdown [%]",
          "Sharpe Ratio")


def ma_cross(data: MT5Data, fast: int = 10, slow: int = 30, **portfolio_kwargs: Any) -> vbt.Portfolio:
    """Long when the ``fast`` moving average of Close crosses above the ``slow`` one, flat when it crosses below.

    Moving averages are pandas rolling means: vectorbt's ``MA.run`` compiles a numba kernel that emits a
    ``NumbaPendingDeprecationWarning`` on first use, which ``python -W error`` would turn into a failure.
    """
    close = data.get("Close")
    fast_ma, slow_ma = close.rolling(fast).mean(), close.rolling(slow).mean()
    kwargs = {"init_cash": 10_000.0, "fees": 0.0001, "freq": data.wrapper.freq, **portfolio_kwargs}
    return vbt.Portfolio.from_signals(close, fast_ma.vbt.crossed_above(slow_ma), fast_ma.vbt.crossed_below(slow_ma),
                                      **kwargs)


def plot_backtest(data: MT5Data, pf: vbt.Portfolio, out_png: str | os.PathLike[str], fast: int = 10,
                  slow: int = 30) -> Path:
    """Save a two-panel PNG: the first symbol's Close with its averages and trades, and every equity curve."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    close = data.get("Close")
    frame = close.to_frame(data.symbols[0]) if isinstance(close, pd.Series) else close
    symbol = frame.columns[0]
    price = frame[symbol]
    value = pf.value()
    value = value.to_frame(symbol) if isinstance(value, pd.Series) else value

    fig = Figure(figsize=(11, 7), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    top.plot(price.index, price, color="0.3", lw=0.8, label=f"{symbol} close")
    top.plot(price.index, price.rolling(fast).mean(), lw=1.0, label=f"MA {fast}")
    top.plot(price.index, price.rolling(slow).mean(), lw=1.0, label=f"MA {slow}")
    # Raw order records: ``records_readable`` calls ``rename(inplace=True)``, deprecated in pandas 3.1.
    orders = pf.orders.values
    orders = orders[orders["col"] == 0]
    for side, marker, color, label in ((0, "^", "tab:green", "buy"), (1, "v", "tab:red", "sell")):
        picked = orders[orders["side"] == side]
        top.scatter(price.index[picked["idx"]], picked["price"], marker=marker, color=color, zorder=3, label=label)
    top.set_title(f"MA({fast}/{slow}) cross on MT5 bars")
    top.legend(loc="upper left", fontsize=8)
    for column in value.columns:
        bottom.plot(value.index, value[column], lw=1.0, label=str(column))
    bottom.set_ylabel("portfolio value")
    locator = AutoDateLocator()
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    bottom.legend(loc="upper left", fontsize=8)
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return out


def demo_section(
    url: str,
    login: int | str,
    password: str,
    out_png: str | os.PathLike[str],
    *,
    symbols: Sequence[str] = ("EURUSD", "GBPUSD"),
    timeframe: str = "1h",
    days: int = 30,
    say: Callable[[str], None] = print,
) -> DemoResult:
    """Download ``days`` of ``timeframe`` bars, backtest an MA cross, print statistics and save a PNG.

    Returns:
        ``{"data": MT5Data, "portfolio": vbt.Portfolio, "stats": DataFrame, "png": Path}``.
    """
    data = MT5Data.download(list(symbols), timeframe=timeframe, start=f"{days} days ago UTC", url=url,
                            login=login, password=password, show_progress=False)
    close = data.get("Close")
    if len(close) < 40:
        raise RuntimeError(f"only {len(close)} bars of {list(symbols)} in the last {days} days: too few to backtest")
    say(f"MT5Data.download({list(symbols)}, timeframe={timeframe!r}, last {days} days) -> "
        f"{len(close)} bars, {close.index[0]:%Y-%m-%d %H:%M} .. {close.index[-1]:%Y-%m-%d %H:%M} UTC")
    pf = ma_cross(data)
    stats = pd.DataFrame({str(s): pf.stats(column=s, silence_warnings=True) for s in data.symbols}).loc[list(_STATS)]
    with pd.option_context("display.width", 120, "display.precision", 2):
        say("vbt.Portfolio.from_signals, MA(10/30) cross:")
        say(stats.to_string())
    png = plot_backtest(data, pf, out_png)
    say(f"saved {png}")
    return {"data": data, "portfolio": pf, "stats": stats, "png": png}


def _section(ctx: Any) -> None:
    """The ``pymt5 demo`` section (runs in a worker thread, with its own connection)."""
    out_dir = Path(os.environ.get("PYMT5_DEMO_DIR") or tempfile.gettempdir())
    demo_section(ctx.url, ctx.login, ctx.password, out_dir / "pymt5_vectorbt_demo.png", symbols=ctx.symbols[:2],
                 say=ctx.say)


try:
    from pymt5_core.demo import add_section
except ImportError:  # pymt5-core without the demo tour
    pass
else:
    add_section("vectorbt backtest", _section)
