"""Command 11 bar times checked as the official client checks them (SPEC 9.5): ``check_bar_times``, ``read_bars``."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from pymt5_core.errors import ProtocolError
from pymt5_core.wire import LAYOUTS
from pymt5_core.wire.enums import Period
from pymt5_core.wire.messages import build_bars, check_bar_times, read_bars

MONTHS = [int(datetime(2025, m, 1, tzinfo=UTC).timestamp()) for m in range(1, 13)]


def opens(period: Period, n: int = 500) -> np.ndarray:
    """``n`` aligned open times of ``period`` around 1970, before and after (the months of 2025 for MN1)."""
    if period is Period.MN1:
        return np.array(MONTHS, np.int64)
    step = period.seconds if period.minutes < 1440 else 86400
    return step * (np.arange(n, dtype=np.int64) - n // 2)


@pytest.mark.parametrize("period", [Period.M1, Period.M5, Period.H4, Period.D1, Period.W1, Period.MN1])
@pytest.mark.usefixtures("lenient")  # times before 1970, which PYMT5_DEBUG rejects
def test_aligned_times_pass_as_int32_int64_or_a_strided_bar_column(period: Period) -> None:
    times = opens(period)
    bars = LAYOUTS["Bar"].empty_array(len(times))
    bars["time"] = times
    for column in (times, times.astype(np.int32), bars["time"]):
        check_bar_times(column, period)
    assert len(read_bars(build_bars(bars), period)) == len(times)


@pytest.mark.parametrize(("period", "shift"), [(Period.M1, 1), (Period.M5, 60), (Period.H4, 3600),
                                                (Period.D1, 3600), (Period.MN1, 86400)])
@pytest.mark.usefixtures("lenient")  # times before 1970, which PYMT5_DEBUG rejects
def test_the_first_misaligned_time_is_named_whatever_the_integer_type(period: Period, shift: int) -> None:
    times = opens(period)
    times[[3, 7]] += shift
    bars = LAYOUTS["Bar"].empty_array(len(times))
    bars["time"] = times
    message = f"bar at {times[3]} is not aligned to {period.name}"
    for column in (times, times.astype(np.int32), bars["time"]):
        with pytest.raises(ProtocolError, match=message):
            check_bar_times(column, period)
    with pytest.raises(ProtocolError, match=message):
        read_bars(build_bars(bars), period)
    assert len(read_bars(build_bars(bars))) == len(times)  # without a period nothing is checked


def test_times_at_the_ends_of_int32_are_judged_by_their_value() -> None:
    lowest, highest = np.iinfo(np.int32).min, np.iinfo(np.int32).max
    for t in (lowest, lowest + 1, highest):  # none is a multiple of 60, and rounding down the first wraps around
        with pytest.raises(ProtocolError, match=f"bar at {t} "):
            check_bar_times(np.array([0, t], np.int32), Period.M1)
    check_bar_times(np.array([lowest + 8, highest - 7], np.int32), Period.M1)  # -2^31 + 8 and 2^31 - 8: 60 | both
    check_bar_times(np.array([], np.int32), Period.M1)
