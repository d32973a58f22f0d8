from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from pymt5_vectorbt.parsing import COLUMNS, parse_timeframe, rates_to_vbt_frame, timeframe_to_timedelta

from pymt5_core.errors import InvalidRequest


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("1m", "M1"), ("5m", "M5"), ("15m", "M15"), ("30m", "M30"), ("1h", "H1"), ("4h", "H4"), ("1d", "D1"),
        ("1w", "W1"), ("1M", "MN1"), ("15min", "M15"), ("60m", "H1"), ("24h", "D1"), ("7d", "W1"), ("2h", "H2"),
        ("1D", "D1"), ("h", "H1"), ("M1", "M1"), ("H4", "H4"), ("m15", "M15"), ("mn1", "MN1"), (" d1 ", "D1"),
        (timedelta(hours=4), "H4"), (pd.Timedelta("30min"), "M30"),
    ],
)
def test_parse_timeframe_accepts_vectorbt_strings_mt5_names_and_timedeltas(value: object, name: str) -> None:
    assert parse_timeframe(value) == name  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["7m", "2M", "1y", "5h", "", "abc", "1.5h", timedelta(seconds=90), 60])
def test_parse_timeframe_rejects_lengths_mt5_lacks_with_a_value_error(value: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_timeframe(value)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)
    assert repr(value) in str(caught.value) or "timeframe" in str(caught.value)


def test_timeframe_to_timedelta_is_the_nominal_bar_length() -> None:
    assert timeframe_to_timedelta("4h") == pd.Timedelta(hours=4)
    assert timeframe_to_timedelta("M1") == pd.Timedelta(minutes=1)


def test_rates_to_vbt_frame_keeps_every_column_as_float_on_a_utc_index() -> None:
    index = pd.DatetimeIndex(pd.to_datetime([1_700_000_000, 1_700_000_060], unit="s", utc=True), name="time")
    rates = pd.DataFrame({"open": [1.0, 2.0], "high": [1.5, 2.5], "low": [0.5, 1.5], "close": [1.2, 2.2],
                          "tick_volume": np.array([5, 7], "u8"), "spread": np.array([1, 2], "i4"),
                          "real_volume": np.array([0, 0], "u8")}, index=index)
    frame = rates_to_vbt_frame(rates)
    assert tuple(frame.columns) == COLUMNS
    assert (frame.dtypes == "float64").all()
    assert str(frame.index.tz) == "UTC" and frame.index.name == "time"
    assert frame["Volume"].tolist() == [5.0, 7.0]
    assert frame["Real Volume"].tolist() == [0.0, 0.0]  # all-zero columns stay
