"""``download()``: bars of one or many symbols into one pandas DataFrame, like ``yfinance.download``.

The work is split the sans-I/O way. :func:`_plan` is a generator that decides everything (validation,
cache look-up, chunking, merging, aggregation, the DataFrame) and yields :class:`Fetch` requests; a
driver sends it the bars of each request. :func:`download` drives it with a blocking
:class:`~pymt5_core.sync.MT5ClientSync`, :func:`download_async` with an async
:class:`~pymt5_core.client.MT5Client`, so the logic exists once.

Times are UTC. Bar times are the times the server gives (MetaTrader labels server-time bars as UTC);
``start`` and ``end`` are inclusive, as in ``copy_rates_range``.
"""

from __future__ import annotations

import math
import os
import sys
import time as _time
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
import pandas as pd

from pymt5_core._timeframes import RATES_DTYPE, Timeframe, aggregate, parse_timeframe
from pymt5_core._validate import check_credentials, check_login, check_url
from pymt5_core.cache import BarCache, CachedBars
from pymt5_core.errors import InvalidRequest, UnknownSymbol

if TYPE_CHECKING:
    from pymt5_core.client import MT5Client
    from pymt5_core.sync import MT5ClientSync

__all__ = [
    "CHUNK_BARS", "Fetch", "bars_to_frame", "download", "download_async", "require_symbols", "require_symbols_async",
    "to_unix",
]

#: Bars asked for in one request; a long range is split into chunks of this many nominal bars.
CHUNK_BARS = 20_000
#: ``progress=None`` shows a bar when the download spans at least this many nominal bars in total.
AUTO_PROGRESS_BARS = 100_000
#: Default look-back when ``start`` is None: this many bars of the period, but at least a week.
DEFAULT_LOOKBACK_BARS = 1_000
_WEEK = 7 * 86_400
_clock = _time.time  # replaced in tests
_FIELDS = ("open", "high", "low", "close", "tick_volume", "spread", "real_volume")

TimeLike = datetime | date | pd.Timestamp | str | int | float


@dataclass(frozen=True, slots=True)
class Fetch:
    """One request the plan needs answered: the bars of ``symbol`` in ``[start, end]`` (Unix seconds)."""

    symbol: str
    period: str
    start: int
    end: int


class _Progress(Protocol):
    def update(self, n: int = 1) -> Any: ...
    def set_postfix_str(self, s: str) -> Any: ...
    def close(self) -> Any: ...


# --- inputs -------------------------------------------------------------------------------------------


def to_unix(value: TimeLike, what: str = "time") -> int:
    """Convert an aware datetime, a date (UTC midnight), an ISO string (UTC unless it says otherwise)
    or Unix seconds into Unix seconds.

    Raises:
        InvalidRequest: a naive ``datetime`` (ambiguous: local time or UTC?) or an unparsable value.
    """
    if isinstance(value, bool):
        raise InvalidRequest(f"{what}: expected a datetime, not {value!r}")
    if isinstance(value, int | float | np.integer | np.floating):
        if not math.isfinite(value):
            raise InvalidRequest(f"{what}: {value!r} is not a time")
        return int(value)
    if isinstance(value, datetime):  # pd.Timestamp is a datetime too
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidRequest(
                f"{what} {value.isoformat()} is a naive datetime; give a timezone, e.g. "
                f"datetime(..., tzinfo=timezone.utc) or pd.Timestamp(..., tz='UTC')"
            )
        return math.floor(value.timestamp())
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
    if isinstance(value, str):
        try:
            ts = pd.Timestamp(value)
        except ValueError as exc:
            raise InvalidRequest(f"{what}: cannot parse {value!r} as a date/time") from exc
        if pd.isna(ts):
            raise InvalidRequest(f"{what}: cannot parse {value!r} as a date/time")
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
        return math.floor(ts.timestamp())
    raise InvalidRequest(f"{what}: expected a datetime, date, ISO string or Unix seconds, not {type(value).__name__}")


def _symbols(symbols: str | Iterable[str]) -> tuple[list[str], bool]:
    """The symbol list and whether the caller gave one symbol (a flat-column frame)."""
    if isinstance(symbols, str):
        names = [s for s in symbols.replace(",", " ").split() if s]
        single = len(names) == 1
    else:
        given = list(symbols) if isinstance(symbols, Iterable) else None
        if given is None or not all(isinstance(s, str) for s in given):
            raise InvalidRequest(f"symbols must be a name, a string of names or a list of names, not {symbols!r}")
        names = [s.strip() for s in given]
        single = False
    if not names or any(not s for s in names):
        raise InvalidRequest("no symbol given")
    return list(dict.fromkeys(names)), single


# --- the plan -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Job:
    symbols: list[str]
    single: bool
    timeframe: Timeframe
    start: int
    end: int
    now: int
    group_by: str


def _validate(
    symbols: str | Iterable[str],
    timeframe: object,
    start: TimeLike | None,
    end: TimeLike | None,
    group_by: str,
    now: int,
) -> _Job:
    names, single = _symbols(symbols)
    tf = parse_timeframe(timeframe)
    if group_by not in ("column", "ticker"):
        raise InvalidRequest(f"group_by must be 'column' or 'ticker', not {group_by!r}")
    end_s = now if end is None else to_unix(end, "end")
    start_s = end_s - max(DEFAULT_LOOKBACK_BARS * tf.seconds, _WEEK) if start is None else to_unix(start, "start")
    if end_s < start_s:
        raise InvalidRequest(
            f"end ({_iso(end_s)}) is before start ({_iso(start_s)})"
        )
    return _Job(names, single, tf, start_s, end_s, now, group_by)


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def _chunks(start: int, end: int, seconds: int) -> list[tuple[int, int]]:
    step = CHUNK_BARS * seconds
    return [(a, min(a + step - 1, end)) for a in range(start, end + 1, step)]


def _base_range(job: _Job) -> tuple[int, int]:
    """The range of base-period bars needed: aggregated bars start at a multiple of their length."""
    tf = job.timeframe
    if tf.served:
        return job.start, job.end
    return job.start - job.start % tf.seconds, job.end


def _plan(
    job: _Job, cache: BarCache | None, progress: _Progress | None
) -> Generator[Fetch, npt.NDArray[Any], dict[str, npt.NDArray[Any]]]:
    """Yield the fetches ``job`` needs (receiving their bars) and return the bars of each symbol."""
    tf = job.timeframe
    base_seconds = tf.seconds // tf.factor
    lo, hi = _base_range(job)
    result: dict[str, npt.NDArray[Any]] = {}
    for symbol in job.symbols:
        cached = cache.load(symbol, tf.base) if cache is not None else CachedBars(np.zeros(0, RATES_DTYPE), 0, -1, 0)
        ranges = BarCache.missing(cached, lo, hi, base_seconds) if cache is not None else [(lo, hi)]
        fetched: list[tuple[int, int, npt.NDArray[Any]]] = []
        for a, b in ranges:
            for ca, cb in _chunks(a, b, base_seconds):
                if progress is not None:
                    progress.set_postfix_str(symbol)
                bars = yield Fetch(symbol, tf.base, ca, cb)
                bars = np.asarray(bars, dtype=RATES_DTYPE)
                # What lies past "now" is not known yet: the stored span stops at now.
                fetched.append((ca, min(cb, job.now), bars[(bars["time"] >= ca) & (bars["time"] <= cb)]))
                if progress is not None:
                    progress.update(1)
        if cache is not None and fetched:
            cache.store(symbol, tf.base, BarCache.merge(cached, [f for f in fetched if f[0] <= f[1]], job.now))
        pool = _dedupe(np.concatenate([cached.bars, *(f[2] for f in fetched)]))
        bars = pool[(pool["time"] >= lo) & (pool["time"] <= hi)]
        if not tf.served:
            bars = aggregate(bars, tf.seconds)
            bars = bars[(bars["time"] >= job.start) & (bars["time"] <= job.end)]
        result[symbol] = np.ascontiguousarray(bars)
    return result


def _dedupe(bars: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Sort by time and keep the last occurrence of each time."""
    rev = bars[::-1]
    _, first = np.unique(rev["time"], return_index=True)
    return rev[first]


def _expected_chunks(job: _Job) -> tuple[int, int]:
    """(chunks, nominal bars) of the whole job before the cache is consulted."""
    lo, hi = _base_range(job)
    base_seconds = job.timeframe.seconds // job.timeframe.factor
    per_symbol = len(_chunks(lo, hi, base_seconds))
    return per_symbol * len(job.symbols), (hi - lo) // base_seconds * len(job.symbols)


# --- output -------------------------------------------------------------------------------------------


def bars_to_frame(bars: npt.NDArray[Any]) -> pd.DataFrame:
    """Rates array -> DataFrame with a UTC ``DatetimeIndex`` named ``time`` and the other fields as columns."""
    index = pd.DatetimeIndex(pd.to_datetime(bars["time"].astype(np.int64), unit="s", utc=True), name="time")
    return pd.DataFrame({name: bars[name] for name in _FIELDS}, index=index)


def _frame(job: _Job, bars: dict[str, npt.NDArray[Any]]) -> pd.DataFrame:
    if job.single:
        return bars_to_frame(bars[job.symbols[0]])
    frames = {symbol: bars_to_frame(bars[symbol]) for symbol in job.symbols}
    df = pd.concat(frames, axis=1, names=["symbol", "field"]).sort_index()
    if df.empty and not len(df.columns):
        cols = pd.MultiIndex.from_product([job.symbols, list(_FIELDS)], names=["symbol", "field"])
        df = pd.DataFrame(columns=cols, index=pd.DatetimeIndex([], tz="UTC", name="time"))
    df.index.name = "time"
    if job.group_by == "column":
        df = df.swaplevel(0, 1, axis=1)
        order = pd.MultiIndex.from_product([list(_FIELDS), job.symbols], names=["field", "symbol"])
        df = df.reindex(columns=order)
    return df


# --- drivers ------------------------------------------------------------------------------------------


def _progress_bar(job: _Job, progress: bool | None) -> _Progress | None:
    chunks, nominal = _expected_chunks(job)
    show = progress if progress is not None else nominal >= AUTO_PROGRESS_BARS
    if not show:
        return None
    from tqdm.auto import tqdm

    bar: _Progress = tqdm(total=chunks, unit="chunk", desc=f"download {job.timeframe.name}", file=sys.stderr,
                          leave=False)
    return bar


def _cache(cache_dir: str | os.PathLike[str] | None, url: str | None) -> BarCache | None:
    if cache_dir is None:
        return None
    host = urlsplit(url).netloc if url else ""
    return BarCache(Path(cache_dir), namespace=host or "default")


def _credentials(url: str | None, login: int | str | None, password: str | None) -> tuple[str, int, str]:
    url = url or os.environ.get("PYMT5_URL")
    login = login if login is not None else os.environ.get("PYMT5_LOGIN")
    password = password if password is not None else os.environ.get("PYMT5_PASSWORD")
    if not url:
        raise InvalidRequest("no server: pass url=... or client=..., or set PYMT5_URL")
    if login is None or password is None:
        raise InvalidRequest("no credentials: pass login= and password=, or set PYMT5_LOGIN and PYMT5_PASSWORD")
    return check_url(url), check_login(login), check_credentials(password)[0]


def require_symbols(client: Any, symbols: Iterable[str]) -> None:
    """Refuse, before anything is downloaded, the ``symbols`` a blocking client does not list.

    A client without ``symbols()`` (a stand-in that only serves bars) is not asked.

    Raises:
        UnknownSymbol: naming every unknown one.
    """
    if hasattr(client, "symbols"):
        _refuse_unlisted(symbols, client.symbols())


async def require_symbols_async(client: Any, symbols: Iterable[str]) -> None:
    """The coroutine form of :func:`require_symbols`, for an async client."""
    if hasattr(client, "symbols"):
        _refuse_unlisted(symbols, await client.symbols())


def _refuse_unlisted(symbols: Iterable[str], listed: Iterable[Any]) -> None:
    names = {s.name for s in listed}
    unknown = [str(s) for s in symbols if s not in names]
    if unknown:
        raise UnknownSymbol(*unknown)


def _now(client: object) -> int:
    """Current server-clock seconds: the client's estimate of the server's time once it has one (the
    server's clock may differ from this machine's), else UTC now plus the server's offset."""
    server_ms = getattr(client, "server_time", None)
    if isinstance(server_ms, int):
        return server_ms // 1000
    offset = getattr(client, "server_time_offset", 0) or 0
    return int(_clock()) + int(offset)


def _run_sync(job: _Job, client: Any, cache: BarCache | None, progress: bool | None) -> pd.DataFrame:
    if len(job.symbols) > 1:  # a lone symbol needs no listing: the client refuses its bar request before sending
        require_symbols(client, job.symbols)
    bar = _progress_bar(job, progress)
    plan = _plan(job, cache, bar)
    try:
        request = next(plan)
        while True:
            request = plan.send(client.bars(request.symbol, request.period, request.start, request.end))
    except StopIteration as done:
        return _frame(job, done.value)
    finally:
        if bar is not None:
            bar.close()


async def _run_async(job: _Job, client: Any, cache: BarCache | None, progress: bool | None) -> pd.DataFrame:
    if len(job.symbols) > 1:  # as in _run_sync
        await require_symbols_async(client, job.symbols)
    bar = _progress_bar(job, progress)
    plan = _plan(job, cache, bar)
    try:
        request = next(plan)
        while True:
            request = plan.send(await client.bars(request.symbol, request.period, request.start, request.end))
    except StopIteration as done:
        return _frame(job, done.value)
    finally:
        if bar is not None:
            bar.close()


def download(
    symbols: str | Sequence[str],
    timeframe: str | int = "M1",
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    *,
    url: str | None = None,
    login: int | str | None = None,
    password: str | None = None,
    client: MT5ClientSync | None = None,
    progress: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    group_by: Literal["column", "ticker"] = "column",
) -> pd.DataFrame:
    """Download bars of one or several symbols into a DataFrame (blocking).

    Args:
        symbols: ``"EURUSD"``, ``"EURUSD GBPUSD"`` / ``"EURUSD,GBPUSD"`` or a list.
        timeframe: ``"M1"`` ... ``"MN1"``, including the periods built by aggregation (``"M2"``, ``"H2"``,
            ``"H6"``, ...; see :mod:`pymt5_core.mt5`), or a ``TIMEFRAME_*`` code.
        start, end: inclusive bounds: aware datetimes, dates, ISO strings (UTC unless they carry an offset)
            or Unix seconds. ``end=None`` is now; ``start=None`` is 1000 bars (at least a week) before end.
        url, login, password: the server and account; default ``PYMT5_URL``, ``PYMT5_LOGIN``,
            ``PYMT5_PASSWORD``. Ignored when ``client`` is given.
        client: a logged-in :class:`~pymt5_core.sync.MT5ClientSync` to reuse (use :func:`download_async`
            with an async :class:`~pymt5_core.client.MT5Client`).
        progress: True/False forces the tqdm bar on stderr on/off; None shows it for long downloads.
        cache_dir: keep bars in Parquet files there and fetch only what is missing.
        group_by: ``"column"`` gives columns ``(field, symbol)``, ``"ticker"`` gives ``(symbol, field)``.

    Returns:
        A DataFrame indexed by a UTC ``DatetimeIndex`` named ``time`` with columns ``open``, ``high``,
        ``low``, ``close``, ``tick_volume``, ``spread``, ``real_volume``. A single symbol given as a string
        gives flat columns; a list (even of one) gives two-level columns.

    Raises:
        InvalidRequest: before anything is sent, for a naive datetime, ``end`` before ``start``, an unknown
            timeframe, no symbol, or missing or malformed credentials.
        UnknownSymbol: after logging in but before any bar request is sent, for an unknown symbol.
    """
    if client is not None and _is_async(client):
        raise InvalidRequest("client is an async MT5Client: use `await download_async(..., client=client)`")
    job = _validate(symbols, timeframe, start, end, group_by, _now(client))
    if client is not None:
        return _run_sync(job, client, _cache(cache_dir, getattr(client, "url", None)), progress)
    server, account, secret = _credentials(url, login, password)
    from pymt5_core.sync import MT5ClientSync

    with MT5ClientSync(server) as own:
        own.login(account, secret)
        job = _validate(symbols, timeframe, start, end, group_by, _now(own))
        return _run_sync(job, own, _cache(cache_dir, server), progress)


async def download_async(
    symbols: str | Sequence[str],
    timeframe: str | int = "M1",
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    *,
    url: str | None = None,
    login: int | str | None = None,
    password: str | None = None,
    client: MT5Client | None = None,
    progress: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    group_by: Literal["column", "ticker"] = "column",
) -> pd.DataFrame:
    """The coroutine form of :func:`download`, taking an async :class:`~pymt5_core.client.MT5Client`."""
    job = _validate(symbols, timeframe, start, end, group_by, _now(client))
    if client is not None:
        return await _run_async(job, client, _cache(cache_dir, getattr(client, "url", None)), progress)
    server, account, secret = _credentials(url, login, password)
    from pymt5_core.client import MT5Client

    async with MT5Client(server) as own:
        await own.login(account, secret)
        job = _validate(symbols, timeframe, start, end, group_by, _now(own))
        return await _run_async(job, own, _cache(cache_dir, server), progress)


def _is_async(client: object) -> bool:
    import inspect

    return inspect.iscoroutinefunction(getattr(client, "bars", None))
