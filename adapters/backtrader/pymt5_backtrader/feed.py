"""MT5Data: a Backtrader feed that backfills MT5 history, then goes live on bars built from ticks."""

from __future__ import annotations

import datetime as _dt
import queue
from typing import Any

import backtrader as bt
from backtrader.utils import date2num

from pymt5_backtrader import parsing
from pymt5_backtrader.store import FeedSpec, MT5Store
from pymt5_core._validate import check_int, check_number, check_symbol_name
from pymt5_core.errors import InvalidRequest

__all__ = ["MT5Data"]

_EPOCH = _dt.datetime(1970, 1, 1)


def _check_params(p: Any) -> None:
    """Refuse feed parameters that cannot work, before the store connects.

    Raises:
        InvalidRequest: a parameter of the wrong type, out of range, or an impossible combination.
    """
    check_symbol_name(p.dataname, "dataname")
    if p.bar_source not in ("ticks", "server"):
        raise InvalidRequest(f"bar_source must be 'ticks' or 'server', not {p.bar_source!r}")
    if p.use_ticks and p.historical:
        raise InvalidRequest("use_ticks and historical cannot be combined: MT5 serves bars, not tick history")
    check_int(p.backfill_bars, "backfill_bars", minimum=1)
    check_number(p.qcheck, "qcheck", positive=True)
    check_number(p.first_tick_wait, "first_tick_wait", minimum=0)
    for name in ("fromdate", "todate"):
        value = getattr(p, name)
        if value is not None and not isinstance(value, _dt.datetime | _dt.date):
            raise InvalidRequest(f"{name} must be a datetime, not {type(value).__name__}")
    if p.fromdate is not None and p.todate is not None and p.todate < p.fromdate:
        raise InvalidRequest(f"todate ({p.todate}) is before fromdate ({p.fromdate})")


class MT5Data(bt.feed.DataBase):
    """One MT5 symbol as a Backtrader data feed.

    Live mode (default) is a small state machine: optional ``backfill_from`` data, then the MT5 history
    backfill (status ``DELAYED``), then live bars (status ``LIVE``). When the connection breaks the feed
    reports ``CONNBROKEN``; once the client has reconnected it backfills the gap from the server and
    reports ``LIVE`` again. No bar is delivered twice and the bar still forming is never delivered.
    An unknown symbol reports ``NOTSUBSCRIBED`` and ends the feed.

    Bars are stamped with their **end** (Backtrader's convention for resampled bars): the M1 bar that
    opens at 10:00 UTC is delivered as 10:01; D1/W1/MN1 bars carry their last day at 23:59:59.999990.
    ``stamp_open=True`` keeps MT5's open-time stamps instead. Historical and live bars use the same rule.

    Params (with defaults):

      - ``dataname`` (required): the MT5 symbol, e.g. ``"EURUSD"``.
      - ``timeframe`` (``TimeFrame.Days``) / ``compression`` (1): must be one MT5 period: Minutes x 1, 5,
        15, 30, 60, 240; Days x 1; Weeks x 1; Months x 1. Anything else raises ``ValueError``.
      - ``tz`` (None = UTC): output timezone (a pytz zone or name); naive ``fromdate``/``todate`` are in it.
      - ``fromdate`` (None) / ``todate`` (None): first/last bars to backfill (historical: to download).
      - ``historical`` (False): download ``fromdate``..``todate`` exactly as ``client.bars`` returns it,
        then end the feed.
      - ``backfill_start`` (True): backfill history at start (from ``fromdate``, else the last
        ``backfill_bars`` bars).
      - ``backfill_bars`` (100): bars to backfill at start when ``fromdate`` is None.
      - ``backfill`` (True): backfill the gap after a reconnect (kept for IBData compatibility; the gap is
        always backfilled, as skipping it would lose bars).
      - ``backfill_from`` (None): another data feed delivered first; MT5 bars resume after its last bar.
      - ``use_ticks`` (False): deliver every tick as a bar (open=high=low=close=price) for
        ``resampledata``/``replaydata``; no history backfill in this mode.
      - ``bar_source`` (``"ticks"``): ``"ticks"`` builds live bars from the ticks the feed watched from
        the bar's start; ``"server"`` fetches every final bar from the server (identical to history).
      - ``stamp_open`` (False): stamp bars with their open time instead of their end.
      - ``first_tick_wait`` (5.0): seconds to wait for a first tick to learn the server time; after that
        the last quote time is used (quiet or closed market).
      - ``qcheck`` (0.5): seconds ``_load`` waits for data before returning None to Cerebro.
      - ``store`` (None): the :class:`MT5Store`; else ``url``/``login``/``password`` create one.
    """

    params = (
        ("qcheck", 0.5),
        ("historical", False),
        ("backfill_start", True),
        ("backfill_bars", 100),
        ("backfill", True),
        ("backfill_from", None),
        ("use_ticks", False),
        ("bar_source", "ticks"),
        ("stamp_open", False),
        ("first_tick_wait", 5.0),
        ("store", None),
        ("url", None),
        ("login", None),
        ("password", None),
    )

    _ST_FROM, _ST_START, _ST_FEED, _ST_OVER = range(4)

    def __init__(self, **kwargs: Any) -> None:
        _check_params(self.p)
        # tick mode delivers ticks whatever the timeframe (usually TimeFrame.Ticks, for resampledata)
        self._period = "M1" if self.p.use_ticks else parsing.parse_timeframe(self.p.timeframe, self.p.compression)
        store = self.p.store
        if store is None:
            if self.p.url is None or self.p.login is None:
                raise InvalidRequest("MT5Data needs store=... or url=/login=/password=")
            store = MT5Store(url=self.p.url, login=self.p.login, password=self.p.password or "")
        self._store: MT5Store = store
        self._q: queue.Queue[tuple[Any, ...]] | None = None
        self._state = self._ST_OVER
        self._after: int | None = None

    def _gettz(self) -> Any:
        return bt.utils.date.tzparse(self.p.tz) if self.p.tz is not None else bt.utils.date.tzparse("UTC")

    def _start_finish(self) -> None:
        super()._start_finish()
        # fromdate/todate select bars by MT5 open time on the server (as copy_rates_range does); stamps are
        # bar ends, so Backtrader must not filter again on them.
        self.fromdate, self.todate = float("-inf"), float("inf")

    def islive(self) -> bool:
        """True unless ``historical``: Cerebro then disables preloading and runonce."""
        return not self.p.historical

    def haslivedata(self) -> bool:
        return self._laststatus == self.LIVE and self._q is not None and not self._q.empty()

    def start(self) -> None:
        """Connect the store and start the backfill (or the ``backfill_from`` feed)."""
        super().start()
        self._store.start(data=self)
        self._store.data_started(self)
        self._after = None
        if self.p.backfill_from is not None:
            self._state = self._ST_FROM
            self.p.backfill_from.setenvironment(self._env)
            self.p.backfill_from._start()
        else:
            self._state = self._ST_START

    def stop(self) -> None:
        """Stop the subscription and release the store."""
        super().stop()
        if self._q is not None:
            self._store.unsubscribe(self._q)
            self._q = None
        self._store.stop(self)

    def _subscribe(self) -> None:
        p = self.p
        start = end = count = None
        if p.historical or p.backfill_start:
            span = parsing.parse_bar_span(p.fromdate, p.todate, self._gettz() if p.tz is not None else None)
            start, end = span.start, span.end
            if start is None:
                count = p.backfill_bars or None
        if p.historical and start is None and count is None:
            count = p.backfill_bars or 100
        spec = FeedSpec(str(p.dataname), self._period, ticks=bool(p.use_ticks), historical=bool(p.historical),
                        start=start, end=end, count=count, after=self._after, bar_source=p.bar_source,
                        first_tick_wait=float(p.first_tick_wait))
        self._q = self._store.subscribe(spec)
        self._state = self._ST_FEED

    def _load(self) -> bool | None:
        if self._state == self._ST_OVER:
            return False
        if self._state == self._ST_FROM:
            if self._load_from():
                return True
            self._subscribe()
        elif self._state == self._ST_START:
            self._subscribe()
        assert self._q is not None
        while True:
            try:
                if self.p.historical:
                    item = self._q.get(timeout=self._store.timeout)
                else:
                    item = self._q.get(timeout=self._qcheck)
            except queue.Empty:
                if self.p.historical:
                    self.put_notification(self.DISCONNECTED)
                    self._state = self._ST_OVER
                    return False
                return None
            kind = item[0]
            if kind == "bar":
                if item[7] and not self.p.historical and self._laststatus != self.DELAYED:
                    self.put_notification(self.DELAYED)
                self._fill_bar(item)
                return True
            if kind == "tick":
                self._fill_tick(item)
                return True
            if kind == "status":
                status = getattr(self, item[1])
                if status == self.NOTSUBSCRIBED:
                    self.put_notification(status, *item[2:])
                    self._state = self._ST_OVER
                    return False
                if status != self._laststatus:
                    self.put_notification(status)
                continue
            if kind == "error":
                self.put_notification(self.DISCONNECTED, item[1])
            self._state = self._ST_OVER  # "end" or "error"
            return False

    def _load_from(self) -> bool:
        src = self.p.backfill_from
        if not src.next():  # next() = forward + load (with the source's own filters)
            last = src.lines.datetime[0] if len(src) else None
            if last is not None:
                t = int((bt.num2date(last) - _EPOCH).total_seconds())
                self._after = t if self.p.stamp_open else parsing.bar_open_of(t - 1, self._period)
            return False
        for alias in ("datetime", "open", "high", "low", "close", "volume", "openinterest"):
            getattr(self.lines, alias)[0] = getattr(src.lines, alias)[0]
        return True

    def _fill_bar(self, item: tuple[Any, ...]) -> None:
        _, open_t, o, h, low, c, volume, _backfill = item
        stamp = parsing.bar_stamp(open_t, self._period, stamp_open=self.p.stamp_open)
        lines = self.lines
        lines.datetime[0] = date2num(stamp)
        lines.open[0], lines.high[0], lines.low[0], lines.close[0] = o, h, low, c
        lines.volume[0] = volume
        lines.openinterest[0] = 0.0

    def _fill_tick(self, item: tuple[Any, ...]) -> None:
        _, t_ms, price, volume = item
        lines = self.lines
        lines.datetime[0] = date2num(_EPOCH + _dt.timedelta(milliseconds=t_ms))
        lines.open[0] = lines.high[0] = lines.low[0] = lines.close[0] = price
        lines.volume[0] = volume
        lines.openinterest[0] = 0.0
