"""Paged bars downloads against the simulator: ``bars_df`` decodes pages as they come, like ``bars``."""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pymt5_core.client import MT5Client
from pymt5_core.errors import ProtocolError
from pymt5_core.rates import rates_frame
from pymt5_core.sim import SimServer
from pymt5_core.wire.enums import Period

#: The simulator clock at the start of every test (see conftest).
START = datetime(2026, 11, 18, 12, tzinfo=UTC)


async def test_bars_df_over_many_pages_equals_the_rates_frame_of_bars(
    sim: SimServer, make_client: Callable[..., MT5Client]
) -> None:
    c = make_client(sim.url, bars_per_request=200)
    async with c:
        await c.login(sim.demo_account.login, sim.demo_account.password)
        start, end = START - timedelta(days=6), START - timedelta(days=1)
        by_range = await c.bars("EURUSD", "M5", start, end)
        df_range = await c.bars_df("EURUSD", "M5", start, end)
        by_count = await c.bars("EURUSD", "M1", end=end, count=5_000)
        df_count = await c.bars_df("EURUSD", "M1", end=end, count=5_000)
        floored = await c.bars_df("EURUSD", "M1", start, end, count=10**9)  # a count far above the range
    truth = sim.model.bars("EURUSD", Period.M5, int(start.timestamp()), int(end.timestamp()), now_ms=sim.clock.now_ms())
    assert len(by_range) == len(truth) > 3 * 200
    np.testing.assert_array_equal(by_range["time"], truth["time"])
    np.testing.assert_array_equal(by_range["close"], truth["close"])
    assert len(by_count) == 5_000 and by_count["time"][-1] <= end.timestamp()
    pd.testing.assert_frame_equal(df_range, rates_frame(by_range), check_exact=True)
    pd.testing.assert_frame_equal(df_count, rates_frame(by_count), check_exact=True)
    m1 = sim.model.bars("EURUSD", Period.M1, int(start.timestamp()), int(end.timestamp()), now_ms=sim.clock.now_ms())
    assert len(floored) == len(m1) and (floored["close"].to_numpy() == m1["close"]).all()
    assert floored.index[0].timestamp() >= start.timestamp()


@pytest.mark.parametrize("download", ["bars", "bars_df"])
@pytest.mark.parametrize(("span", "index"), [("count", 0), ("count", 180), ("range", 100), ("first", 180)])
async def test_an_answer_with_one_misaligned_bar_is_rejected_whether_the_bar_is_kept_or_not(
    sim: SimServer, make_client: Callable[..., MT5Client], monkeypatch: pytest.MonkeyPatch, download: str, span: str,
    index: int,
) -> None:
    # By count (backward) the newest 50 bars of a 200-bar answer are kept (index 180), not index 0; by range
    # (forward) the one 200-bar answer is kept whole; the first 50 from a start (forward) keep index 0, not 180.
    end = START - timedelta(days=1)
    start = end - timedelta(minutes=199)
    kwargs: dict[str, Any] = {"count": {"end": end, "count": 50}, "range": {"start": start, "end": end},
                              "first": {"start": start, "count": 50}}[span]
    bars_wire = sim.model.bars_wire
    c = make_client(sim.url, bars_per_request=200)
    async with c:
        await c.login(sim.demo_account.login, sim.demo_account.password)
        fetch = getattr(c, download)
        assert len(await fetch("EURUSD", "M1", **kwargs)) == (200 if span == "range" else 50)

        def one_bar_off(*args: Any, **kw: Any) -> bytes:
            body = bytearray(bars_wire(*args, **kw))
            assert len(body) == 200 * 48
            struct.pack_into("<i", body, index * 48, struct.unpack_from("<i", body, index * 48)[0] + 1)
            return bytes(body)

        monkeypatch.setattr(sim.model, "bars_wire", one_bar_off)
        with pytest.raises(ProtocolError, match="not aligned to M1"):
            await fetch("EURUSD", "M1", **kwargs)


@pytest.mark.parametrize("download", ["bars", "bars_df"])
@pytest.mark.parametrize("span", ["range", "count"])
async def test_a_misaligned_bar_in_a_middle_page_rejects_the_whole_download(
    sim: SimServer, make_client: Callable[..., MT5Client], monkeypatch: pytest.MonkeyPatch, download: str, span: str,
) -> None:
    # Five pages of 200 bars, forward over a range or backward by count; the third answer carries one bar a
    # second late. The pages before it were already decoded into the result: none of it may come back.
    end = START - timedelta(days=1)
    kwargs: dict[str, Any] = {"end": end, "count": 1_000} if span == "count" else {
        "start": end - timedelta(minutes=999), "end": end}
    bars_wire = sim.model.bars_wire
    answers = 0

    def third_answer_off(*args: Any, **kw: Any) -> bytes:
        nonlocal answers
        answers += 1
        body = bytearray(bars_wire(*args, **kw))
        if answers == 3:
            struct.pack_into("<i", body, 100 * 48, struct.unpack_from("<i", body, 100 * 48)[0] + 1)
        return bytes(body)

    c = make_client(sim.url, bars_per_request=200)
    async with c:
        await c.login(sim.demo_account.login, sim.demo_account.password)
        fetch = getattr(c, download)
        expected = await fetch("EURUSD", "M1", **kwargs)
        assert len(expected) == 1_000
        monkeypatch.setattr(sim.model, "bars_wire", third_answer_off)
        with pytest.raises(ProtocolError, match="not aligned to M1"):
            await fetch("EURUSD", "M1", **kwargs)
        assert answers == 3  # rejected as it came, before any later page was asked for
        again = await fetch("EURUSD", "M1", **kwargs)  # the connection and the client carry on
    if download == "bars":
        np.testing.assert_array_equal(again, expected)
    else:
        pd.testing.assert_frame_equal(again, expected, check_exact=True)
