"""Bars pages decoded into a preallocated rates array or DataFrame as they arrive (pymt5_core.rates)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from pymt5_core.errors import ProtocolError
from pymt5_core.rates import RATES_DTYPE, FrameSink, RatesSink, max_bars, rates_frame
from pymt5_core.wire.enums import Period
from pymt5_core.wire.layouts import LAYOUTS

T0 = 1_763_467_200  # 2025-11-18 12:00 UTC


def wire_bars(n: int, seed: int = 3) -> npt.NDArray[np.void]:
    rng = np.random.default_rng(seed)
    bars = LAYOUTS["Bar"].empty_array(n)
    bars["time"] = T0 + 60 * np.arange(n) + 60 * (np.arange(n) // 7)  # gaps, as weekends make
    bars["open"], bars["high"], bars["low"], bars["close"] = rng.uniform(1.0, 1.2, (4, n))
    bars["tick_volume"] = rng.integers(1, 5_000, n)
    bars["real_volume"] = rng.uniform(0, 40, n)
    return bars


def reference_rates(bars: npt.NDArray[np.void]) -> npt.NDArray[np.void]:
    out = np.zeros(len(bars), RATES_DTYPE)
    for name in ("time", "open", "high", "low", "close", "tick_volume"):
        out[name] = bars[name]
    out["real_volume"] = np.rint(bars["real_volume"]).astype(np.uint64)
    return out


def reference_frame(rates: npt.NDArray[np.void]) -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.to_datetime(rates["time"], unit="s", utc=True), name="time")
    return pd.DataFrame({name: rates[name] for name in RATES_DTYPE.names[1:]}, index=index)


def fill(sink: RatesSink | FrameSink, bars: npt.NDArray[np.void], page: int) -> None:
    pages = [bars[i:i + page] for i in range(0, len(bars), page)]
    for p in reversed(pages) if sink.backward else pages:
        sink.add(p)


@pytest.mark.parametrize("backward", [False, True])
@pytest.mark.parametrize("bound", [250, 1000, 4000], ids=["grows", "exact", "trimmed"])
def test_pages_fill_the_same_rates_array_whatever_the_order_and_bound(backward: bool, bound: int) -> None:
    bars = wire_bars(1000)
    sink = RatesSink(bound, backward=backward)
    fill(sink, bars, 137)
    assert len(sink) == 1000
    rates = sink.result()
    assert rates.dtype == RATES_DTYPE and rates.flags.owndata and len(rates) == 1000
    np.testing.assert_array_equal(rates, reference_rates(bars))


@pytest.mark.parametrize("backward", [False, True])
@pytest.mark.parametrize("bound", [250, 1000, 4000], ids=["grows", "exact", "trimmed"])
def test_pages_fill_a_frame_equal_to_the_rates_frame(backward: bool, bound: int) -> None:
    bars = wire_bars(1000)
    sink = FrameSink(bound, backward=backward)
    fill(sink, bars, 137)
    frame = sink.result()
    expected = reference_frame(reference_rates(bars))
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert frame.index.dtype == expected.index.dtype and frame.index.name == "time" and str(frame.index.tz) == "UTC"
    assert all(frame[name].to_numpy().flags.c_contiguous for name in frame.columns)


@pytest.mark.parametrize("backward", [False, True])
@pytest.mark.parametrize("sink_type", [RatesSink, FrameSink])
def test_a_page_with_a_misaligned_bar_raises_and_leaves_the_result_as_it_was(
    sink_type: type[RatesSink | FrameSink], backward: bool
) -> None:
    bars = wire_bars(1000)
    pages = [bars[i:i + 250] for i in range(0, 1000, 250)]
    if backward:
        pages.reverse()
    sink = sink_type(1000, backward=backward)
    for page in pages[:2]:
        sink.add(page, Period.M1)
    bad = pages[2].copy()
    bad["time"][-1] += 30
    with pytest.raises(ProtocolError, match=f"bar at {bad['time'][-1]} is not aligned to M1"):
        sink.add(bad, Period.M1)
    assert len(sink) == 500
    sink.add(bad, None)  # unchecked, as for a caller that has checked the times itself
    assert len(sink) == 750
    kept = np.sort(np.concatenate([*pages[:2], bad]), order="time")
    if sink_type is RatesSink:
        np.testing.assert_array_equal(sink.result(), reference_rates(kept))
    else:
        pd.testing.assert_frame_equal(sink.result(), reference_frame(reference_rates(kept)), check_exact=True)


def test_rates_frame_matches_the_frame_sink_and_leaves_the_rates_alone() -> None:
    rates = reference_rates(wire_bars(300))
    before = rates.copy()
    frame = rates_frame(rates)
    pd.testing.assert_frame_equal(frame, reference_frame(rates), check_exact=True)
    np.testing.assert_array_equal(rates, before)


def test_an_empty_download_gives_empty_results_of_the_right_types() -> None:
    rates = RatesSink(0, backward=True).result()
    frame = FrameSink(10, backward=False).result()
    assert rates.dtype == RATES_DTYPE and len(rates) == 0
    assert len(frame) == 0 and list(frame.columns) == list(RATES_DTYPE.names[1:])
    assert frame.index.dtype == reference_frame(rates).index.dtype


def test_max_bars_bounds_the_bars_a_range_can_hold() -> None:
    assert max_bars(Period.M1, T0, T0 + 119) == 2
    assert max_bars(Period.M1, T0, T0 + 120) == 3
    assert max_bars(Period.H1, T0, T0 - 1) == 0
    assert max_bars(Period.MN1, 0, 365 * 86_400) == 14  # months are at least 28 days apart
