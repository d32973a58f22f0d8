"""Synthetic M1 bars of one symbol, generated on demand for any range, identical whatever the range.

The model has two layers:

* **Daily anchors.** The log price at 00:00 UTC of every day from 1970 to 2100 is a mean-reverting
  random walk around ``base_price`` (half-life of a year), whose daily volatility follows the
  symbol's ``annual_volatility`` scaled by a slowly varying volatility regime. Closed time keeps a tenth
  of the variance of open time, so markets reopen with a gap. The whole series costs a few milliseconds
  and is computed once per symbol.
* **Intraday bridge.** Within a day, the path is a Brownian bridge from the day's anchor to the next in
  six sub-steps per minute. Its variance is spread over the open minutes following a UTC activity curve
  (busiest at the London open and the London/New York overlap) and is zero in closed minutes. A minute's
  OHLC are the first, highest, lowest and last of its sub-steps, rounded to the tick size.

Each day draws its numbers from its own generator keyed by (seed, symbol, day), so any day can be
generated alone. Tick counts follow the activity curve and the regime, spreads widen when activity is
low, and exchange symbols get a real volume. A minute outside the quote sessions has no bar.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

from pymt5_core.sim.market.records import Bars, Ticks, empty_bars
from pymt5_core.sim.market.rng import Stream, day_generator, stream_generator, stream_key
from pymt5_core.sim.market.sessions import MINUTES_PER_DAY, utc_week_mask, weekday, weekdays
from pymt5_core.sim.market.spec import SymbolSpec
from pymt5_core.sim.market.ticks import min_ticks, synthesize_ticks

__all__ = ["HORIZON_S", "SyntheticSeries"]

FloatArray = npt.NDArray[np.float64]

DAY = 86_400
#: Bars exist from 1970-01-01 up to (excluding) 2100-01-01 UTC.
HORIZON_DAYS = 47_482
HORIZON_S = HORIZON_DAYS * DAY
SUBSTEPS = 6
_STEPS = MINUTES_PER_DAY * SUBSTEPS
# Days per vectorized block: large enough to amortize numpy calls, small enough to stay in cache.
_BLOCK_DAYS = 16
# Ranges of up to this many days are assembled from cached single days (the live server's case).
_CACHED_SPAN = 2

_REVERSION_HALF_LIFE_DAYS = 365.25
_CLOSED_VARIANCE = 0.1
_REGIME_PERSISTENCE = 0.97
_REGIME_SHOCK = 0.08
_TRADE_STEPS_PER_TICK = 8


def _activity() -> FloatArray:
    """Relative activity per UTC minute of the day, mean 1."""
    hour = np.arange(MINUTES_PER_DAY) / 60.0
    overlap = np.exp(-0.5 * ((hour - 13.5) / 2.5) ** 2)
    london_open = np.exp(-0.5 * ((hour - 7.5) / 1.5) ** 2)
    curve = 0.3 + 0.8 * overlap + 0.4 * london_open
    relative: FloatArray = curve / curve.mean()
    return relative


_ACTIVITY = _activity()


def _ar1(shocks: FloatArray, phi: float) -> FloatArray:
    """Return ``x[i] = phi * x[i-1] + shocks[i]`` (``x[-1] = 0``), vectorized in blocks.

    Within a block ``x[s+k] = phi**k * (phi * x[s-1] + sum(shocks[s+i] / phi**i, i <= k))``; blocks keep
    ``phi**-k`` far from overflow.
    """
    block = 256
    powers = phi ** np.arange(block)
    out = np.empty_like(shocks)
    carry = 0.0
    for start in range(0, len(shocks), block):
        chunk = shocks[start : start + block]
        p = powers[: len(chunk)]
        out[start : start + len(chunk)] = p * (phi * carry + np.cumsum(chunk / p))
        carry = float(out[start + len(chunk) - 1])
    return out


def _daily_path(
    spec: SymbolSpec, seed: int, open_minutes: npt.NDArray[np.int64]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return, for every day from 1970, the volatility regime, the daily sd and the 00:00 UTC log price."""
    days = np.arange(HORIZON_DAYS + 1)
    regime_shocks, price_shocks = stream_generator(seed, spec.symbol_id, Stream.DAILY).standard_normal(
        (2, len(days))
    )
    regime_var = _REGIME_SHOCK**2 / (1 - _REGIME_PERSISTENCE**2)
    regime = np.exp(_ar1(_REGIME_SHOCK * regime_shocks, _REGIME_PERSISTENCE) - regime_var)  # mean square 1
    weight = (open_minutes + _CLOSED_VARIANCE * (MINUTES_PER_DAY - open_minutes)) / MINUTES_PER_DAY
    unit_var = spec.annual_volatility**2 * 7 / (365.25 * weight.sum())
    daily_sd = np.sqrt(unit_var * weight[weekdays(days)]) * regime
    reversion = float(np.exp(-np.log(2) / _REVERSION_HALF_LIFE_DAYS))
    return regime, daily_sd, _ar1(daily_sd * price_shocks, reversion)


class SyntheticSeries:
    """The synthetic market of one symbol.

    Args:
        spec: the symbol.
        seed: the market seed.
        timezone_shift: server time minus UTC in seconds; quote sessions are read in server time.
    """

    def __init__(self, spec: SymbolSpec, seed: int, timezone_shift: int = 0) -> None:
        self.spec = spec
        self._seed = seed
        self._tick_key = stream_key(seed, spec.symbol_id, Stream.TICKS)
        self._open = utc_week_mask(spec.quote_sessions, timezone_shift).reshape(7, MINUTES_PER_DAY)
        self._bars_per_day = self._open.sum(axis=1)
        step_var = np.repeat(self._open * _ACTIVITY, SUBSTEPS, axis=1)
        totals = np.maximum(step_var.sum(axis=1, keepdims=True), 1e-300)
        self._step_sd = np.sqrt(step_var / totals)
        self._tau = np.cumsum(step_var, axis=1) / totals
        self._regime, self._daily_sd, self._anchor = _daily_path(spec, seed, self._bars_per_day)
        self._cached_day = lru_cache(maxsize=64)(self._generate_day)

    # --- bars -------------------------------------------------------------------------------------

    def m1(self, from_s: int, to_s: int) -> Bars:
        """Return the M1 bars whose open time t satisfies ``from_s <= t <= to_s``."""
        first, last = max(from_s, 0), min(to_s, HORIZON_S - 1)
        if first > last:
            return empty_bars()
        days = np.arange(first // DAY, last // DAY + 1)
        counts = self._bars_per_day[weekdays(days)]
        days, counts = days[counts > 0], counts[counts > 0]
        if len(days) == 0:
            return empty_bars()
        if len(days) <= _CACHED_SPAN:
            bars = np.concatenate([self._cached_day(int(d)) for d in days])
        else:
            offsets = np.concatenate([[0], np.cumsum(counts)])
            bars = empty_bars(int(offsets[-1]))
            for i in range(0, len(days), _BLOCK_DAYS):
                block = days[i : i + _BLOCK_DAYS]
                self._generate(block, bars[offsets[i] : offsets[i + len(block)]])
        lo, hi = np.searchsorted(bars["time"], [first, last + 1])
        return bars[lo:hi]

    def ticks(self, from_ms: int, to_ms: int) -> Ticks:
        """Return the ticks with ``from_ms <= time_ms <= to_ms``."""
        bars = self.m1(from_ms // 60_000 * 60, to_ms // 1000)
        ticks = synthesize_ticks(bars, self.spec, self._tick_key)
        lo, hi = np.searchsorted(ticks["time_ms"], [from_ms, to_ms + 1])
        return ticks[lo:hi]

    def _generate_day(self, day: int) -> Bars:
        bars = empty_bars(int(self._bars_per_day[weekday(day)]))
        self._generate(np.array([day]), bars)
        return bars

    def _generate(self, days: npt.NDArray[np.int64], bars: Bars) -> None:
        """Fill ``bars`` with the bars of ``days``, which all have open minutes."""
        spec = self.spec
        day_of_week = weekdays(days)
        normals = np.empty((len(days), _STEPS))
        uniforms = np.empty((len(days), 3, MINUTES_PER_DAY))
        for i, day in enumerate(days.tolist()):
            rng = day_generator(self._seed, spec.symbol_id, Stream.INTRADAY, day)
            rng.standard_normal(out=normals[i])
            rng.random(out=uniforms[i])

        # Brownian bridge from today's anchor to tomorrow's, in variance time.
        path = normals
        path *= self._step_sd[day_of_week]
        path *= self._daily_sd[days][:, None]
        np.cumsum(path, axis=1, out=path)
        start, end = self._anchor[days], self._anchor[days + 1]
        path += self._tau[day_of_week] * (end - start - path[:, -1])[:, None]
        path += start[:, None]

        rows, minutes = np.nonzero(self._open[day_of_week])
        steps = path.reshape(len(days), MINUTES_PER_DAY, SUBSTEPS)[rows, minutes]
        highest, lowest = steps[:, 0].copy(), steps[:, 0].copy()
        for k in range(1, SUBSTEPS):
            np.maximum(highest, steps[:, k], out=highest)
            np.minimum(lowest, steps[:, k], out=lowest)
        o, c = self._to_points(steps[:, 0]), self._to_points(steps[:, -1])
        h, low = self._to_points(highest), self._to_points(lowest)

        activity = _ACTIVITY[minutes]
        u_ticks, u_spread, u_volume = (uniforms[rows, k, minutes] for k in range(3))
        expected = spec.ticks_per_minute * activity * self._regime[days[rows]]
        tick_volume = np.maximum((expected * (0.5 + u_ticks)).astype(np.int64) + 1, min_ticks(o, h, low, c))
        spread = spec.spread_points / np.sqrt(activity) * np.exp(spec.spread_variability * (2 * u_spread - 1))
        grid = spec.tick_points

        bars["time"] = days[rows] * DAY + minutes * 60
        scale = 10**spec.digits
        bars["open"], bars["high"], bars["low"], bars["close"] = o / scale, h / scale, low / scale, c / scale
        bars["tick_volume"] = tick_volume
        bars["spread"] = np.maximum(np.rint(spread / grid), 1) * grid
        if spec.is_exchange:
            traded_steps = tick_volume + (tick_volume * _TRADE_STEPS_PER_TICK * u_volume).astype(np.int64)
            bars["real_volume"] = traded_steps * spec.volume_step

    def _to_points(self, log_price: FloatArray) -> npt.NDArray[np.int64]:
        """Convert log prices relative to the base price to integer points on the tick grid."""
        spec = self.spec
        ticks = np.rint(spec.base_price * np.exp(log_price) / spec.tick_size).astype(np.int64)
        return ticks * spec.tick_points
