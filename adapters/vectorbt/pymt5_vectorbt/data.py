"""``MT5Data``: MetaTrader 5 bars as a vectorbt ``Data`` source."""

from __future__ import annotations

import inspect
import os
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
import vectorbt as vbt
from tqdm.auto import tqdm
from vectorbt.utils import checks
from vectorbt.utils.datetime_ import get_utc_tz, to_tzaware_datetime

from pymt5_core._validate import check_login, check_url
from pymt5_core.download import download as core_download
from pymt5_core.download import download_async as core_download_async
from pymt5_core.download import require_symbols, require_symbols_async
from pymt5_core.errors import InvalidRequest
from pymt5_vectorbt._compat import quiet_infer_freq, without_freq
from pymt5_vectorbt.parsing import parse_timeframe, rates_to_vbt_frame, timeframe_to_timedelta
from pymt5_vectorbt.settings import mt5_settings, register_settings

if TYPE_CHECKING:
    from pymt5_core.client import MT5Client
    from pymt5_core.sync import MT5ClientSync

__all__ = ["MT5Data"]

MT5DataT = TypeVar("MT5DataT", bound="MT5Data")
DatetimeLike = str | int | float | datetime | pd.Timestamp | np.datetime64

_CREDENTIALS = ("url", "login", "password")


class MT5Data(vbt.Data):
    """vectorbt ``Data`` for MetaTrader 5 bars, downloaded through pymt5-core.

    Columns are ``Open``, ``High``, ``Low``, ``Close``, ``Volume`` (tick volume), ``Spread`` (points) and
    ``Real Volume``, all float64, on a UTC ``DatetimeIndex`` named ``time`` (bar open times).

    Usage::

        data = MT5Data.download(["EURUSD", "GBPUSD"], timeframe="1h", start="1 year ago UTC",
                                url=url, login=login, password=password)
        data = data.update()             # new bars only; the still-forming last bar is replaced
        close = data.get("Close")

    ``download`` logs in once for all symbols and closes that session; a client passed as ``client=``
    is used as is and left open. Connection defaults come from ``vbt.settings.data["mt5"]``, then from
    the ``PYMT5_URL``/``PYMT5_LOGIN``/``PYMT5_PASSWORD`` environment variables. With an async
    ``MT5Client``, use :meth:`download_async` and :meth:`update_async`.
    """

    @classmethod
    def download(
        cls: type[MT5DataT],
        symbols: Hashable | Sequence[Hashable],
        *,
        client: MT5ClientSync | None = None,
        url: str | None = None,
        login: int | str | None = None,
        password: str | None = None,
        show_progress: bool = True,
        tqdm_kwargs: dict[str, Any] | None = None,
        tz_localize: Any = None,
        tz_convert: Any = None,
        missing_index: str | None = None,
        missing_columns: str | None = None,
        wrapper_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> MT5DataT:
        """Download ``symbols`` over one session with :meth:`download_symbol` and align them.

        Args:
            symbols: one symbol or a list (a tuple counts as one symbol, as in vectorbt).
            client: a logged-in ``MT5ClientSync`` to use instead of opening a session (it stays open).
            url, login, password: the server and account when ``client`` is None; default
                ``vbt.settings.data["mt5"]``, then ``PYMT5_URL``/``PYMT5_LOGIN``/``PYMT5_PASSWORD``.
            show_progress: show a tqdm bar across symbols (and ``pymt5_core.download``'s chunk bar on long
                downloads).
            tqdm_kwargs: passed to ``tqdm``.
            tz_localize, tz_convert, missing_index, missing_columns, wrapper_kwargs: see ``vbt.Data.from_data``.
            **kwargs: passed to :meth:`download_symbol` (``timeframe``, ``start``, ``end``, ``cache_dir``); wrap a
                value in ``vbt.symbol_dict`` to vary it per symbol. Keywords of ``MT5Client(...)`` such as
                ``timeout`` configure the session.

        Raises:
            InvalidRequest: unsupported timeframe, bad dates or missing credentials (before connecting).
        """
        _reject_async(client, "download")
        symbols = _symbol_list(symbols)
        connection, kwargs = _split_connection(url=url, login=login, password=password, **kwargs)
        for symbol in symbols:
            _check_args(cls.select_symbol_kwargs(symbol, kwargs))
        data = {}
        with _session(client, connection) as session, _progress(symbols, show_progress, tqdm_kwargs) as bar:
            require_symbols(session, symbols)
            for symbol in bar:
                bar.set_description(str(symbol))
                data[symbol] = cls.download_symbol(
                    symbol, client=session, show_progress=show_progress, **cls.select_symbol_kwargs(symbol, kwargs)
                )
        return cls._build(data, kwargs, connection, tz_localize, tz_convert, missing_index, missing_columns,
                          wrapper_kwargs)

    @classmethod
    async def download_async(
        cls: type[MT5DataT],
        symbols: Hashable | Sequence[Hashable],
        *,
        client: MT5Client,
        show_progress: bool = False,
        tqdm_kwargs: dict[str, Any] | None = None,
        tz_localize: Any = None,
        tz_convert: Any = None,
        missing_index: str | None = None,
        missing_columns: str | None = None,
        wrapper_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> MT5DataT:
        """The coroutine form of :meth:`download`, for a logged-in async ``MT5Client`` (left open).

        Raises:
            InvalidRequest: as :meth:`download`.
        """
        symbols = _symbol_list(symbols)
        for symbol in symbols:
            _check_args(cls.select_symbol_kwargs(symbol, kwargs))
        data = {}
        await require_symbols_async(client, symbols)
        with _progress(symbols, show_progress, tqdm_kwargs) as bar:
            for symbol in bar:
                bar.set_description(str(symbol))
                data[symbol] = await cls.download_symbol_async(
                    symbol, client=client, show_progress=show_progress, **cls.select_symbol_kwargs(symbol, kwargs)
                )
        return cls._build(data, kwargs, {}, tz_localize, tz_convert, missing_index, missing_columns, wrapper_kwargs)

    @classmethod
    def download_symbol(
        cls,
        symbol: Hashable,
        *,
        timeframe: str | timedelta = "1d",
        start: DatetimeLike | None = None,
        end: DatetimeLike | None = None,
        client: MT5ClientSync | None = None,
        show_progress: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
        **connection: Any,
    ) -> pd.DataFrame:
        """Download the bars of one symbol in ``[start, end]`` (both inclusive) with ``pymt5_core.download``.

        Args:
            symbol: the MT5 symbol name.
            timeframe: ``"1m"``, ``"5m"``, ``"15m"``, ``"30m"``, ``"1h"``, ``"4h"``, ``"1d"``, ``"1w"``,
                ``"1M"`` or an MT5 name such as ``"H4"``; see :func:`~pymt5_vectorbt.parsing.parse_timeframe`.
            start, end: anything ``vectorbt.utils.datetime_.to_tzaware_datetime`` parses ("1 year ago UTC",
                a Timestamp, Unix seconds, ...). ``end=None`` is the server's now (the client's
                ``server_time`` once known, else UTC now plus the server's time offset); ``start=None`` is
                ``pymt5_core.download``'s default (1000 bars, at least a week, before ``end``).
            client: a logged-in ``MT5ClientSync``; without one, a session is opened from ``connection``.
            show_progress: let ``pymt5_core.download`` show its chunk bar on long downloads.
            cache_dir: keep bars in Parquet files there and fetch only what is missing.
            **connection: ``url``, ``login``, ``password`` and ``MT5Client`` keywords.

        Returns:
            The frame described in :class:`MT5Data`.

        Raises:
            InvalidRequest: unsupported timeframe, unparsable dates or ``end`` before ``start``.
        """
        _reject_async(client, "download_symbol")
        request = _request(symbol, timeframe, start, end, show_progress, cache_dir)
        with _session(client, connection) as session:
            frame = core_download(**request, client=session)
        return rates_to_vbt_frame(frame[str(symbol)])

    @classmethod
    async def download_symbol_async(
        cls,
        symbol: Hashable,
        *,
        client: MT5Client,
        timeframe: str | timedelta = "1d",
        start: DatetimeLike | None = None,
        end: DatetimeLike | None = None,
        show_progress: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
        **ignored: Any,
    ) -> pd.DataFrame:
        """The coroutine form of :meth:`download_symbol` (``url``/``login``/``password`` are ignored)."""
        del ignored
        request = _request(symbol, timeframe, start, end, show_progress, cache_dir)
        frame = await core_download_async(**request, client=client)
        return rates_to_vbt_frame(frame[str(symbol)])

    def update_symbol(self, symbol: Hashable, **kwargs: Any) -> pd.DataFrame:
        """Fetch the bars of ``symbol`` from its last bar on (that bar may still have been forming).

        ``**kwargs`` override the keyword arguments the data was downloaded with.
        """
        prefetched = kwargs.pop("_prefetched", None)
        if prefetched is not None:
            return prefetched
        return self.download_symbol(symbol, **self._update_kwargs(symbol, kwargs))

    def update(
        self: MT5DataT,
        *,
        client: MT5ClientSync | None = None,
        **kwargs: Any,
    ) -> MT5DataT:
        """Return a new ``MT5Data`` with the bars since each symbol's last one, over one session.

        Args:
            client: a logged-in ``MT5ClientSync``; without one, a session is opened with the download's
                credentials (or ``url``/``login``/``password`` given here) and closed.
            **kwargs: override the download's keyword arguments (e.g. ``end``); ``symbol_dict`` works.

        Raises:
            InvalidRequest: as :meth:`download`.
        """
        _reject_async(client, "update")
        kwargs.pop("show_progress", None)  # updates are short: no bar, as in vectorbt's own classes
        connection, kwargs = _split_connection(**{**_stored_connection(self.download_kwargs), **kwargs})
        for symbol in self.symbols:
            _check_args(self._update_kwargs(symbol, self.select_symbol_kwargs(symbol, kwargs)))
        with _session(client, connection) as session:
            new = super().update(client=session, **kwargs)
        return new._strip_freq()

    async def update_async(self: MT5DataT, *, client: MT5Client, **kwargs: Any) -> MT5DataT:
        """The coroutine form of :meth:`update`, for a logged-in async ``MT5Client``.

        Raises:
            InvalidRequest: as :meth:`download`.
        """
        _, kwargs = _split_connection(**kwargs)
        frames = vbt.symbol_dict()
        for symbol in self.symbols:
            symbol_kwargs = self._update_kwargs(symbol, self.select_symbol_kwargs(symbol, kwargs))
            frames[symbol] = await self.download_symbol_async(symbol, client=client, **symbol_kwargs)
        # vectorbt's update does the alignment and the seam; update_symbol hands it the frames fetched above.
        return super().update(_prefetched=frames)._strip_freq()

    @classmethod
    def from_data(cls: type[MT5DataT], data: Any, *args: Any, **kwargs: Any) -> MT5DataT:
        """``vbt.Data.from_data``, leaving the index without ``freq`` (see ``pymt5_vectorbt._compat``)."""
        return super().from_data(data, *args, **kwargs)._strip_freq()

    # --- internals ------------------------------------------------------------------------------------

    def _update_kwargs(self, symbol: Hashable, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The download's keyword arguments for ``symbol``, starting at its last bar, overridden by ``kwargs``."""
        merged = self.select_symbol_kwargs(symbol, self.download_kwargs)
        last = self.data[symbol].dropna(how="all").index
        merged["start"] = last[-1] if len(last) else self.wrapper.index[-1]
        return {**merged, **kwargs}

    @classmethod
    def _build(
        cls: type[MT5DataT],
        data: dict[Hashable, pd.DataFrame],
        kwargs: dict[str, Any],
        connection: dict[str, Any],
        tz_localize: Any,
        tz_convert: Any,
        missing_index: str | None,
        missing_columns: str | None,
        wrapper_kwargs: dict[str, Any] | None,
    ) -> MT5DataT:
        wrapper_kwargs = dict(wrapper_kwargs or {})
        timeframe = kwargs.get("timeframe", "1d")
        if not isinstance(timeframe, vbt.symbol_dict) and parse_timeframe(timeframe) != "MN1":
            wrapper_kwargs.setdefault("freq", timeframe_to_timedelta(timeframe))  # bars have gaps: say it
        return cls.from_data(
            data,
            tz_localize=tz_localize,
            tz_convert=tz_convert,
            missing_index=missing_index,
            missing_columns=missing_columns,
            wrapper_kwargs=wrapper_kwargs,
            # No client here: Data.save could not pickle it, and it may be closed by the next update.
            download_kwargs={**kwargs, **{k: v for k, v in connection.items() if v is not None}},
        )

    def _strip_freq(self: MT5DataT) -> MT5DataT:
        data = {symbol: without_freq(obj) for symbol, obj in self.data.items()}
        index = next(iter(data.values())).index
        return self.replace(wrapper=self.wrapper.replace(index=index), data=data)


# --- helpers -------------------------------------------------------------------------------------------


def _symbol_list(symbols: Hashable | Sequence[Hashable]) -> list[str]:
    names = [symbols] if checks.is_hashable(symbols) else symbols if checks.is_sequence(symbols) else None
    if not names or not all(isinstance(s, str) and s.strip() for s in names):  # type: ignore[union-attr]
        raise InvalidRequest(f"symbols must be a symbol name or a list of names, not {symbols!r}")
    return list(names)  # type: ignore[arg-type]


def _progress(symbols: Sequence[Hashable], show: bool, tqdm_kwargs: dict[str, Any] | None) -> Any:
    return tqdm(symbols, disable=not show, unit="symbol", **(tqdm_kwargs or {}))


def _request(
    symbol: Hashable,
    timeframe: str | timedelta,
    start: DatetimeLike | None,
    end: DatetimeLike | None,
    show_progress: bool,
    cache_dir: str | os.PathLike[str] | None,
) -> dict[str, Any]:
    """The keyword arguments of ``pymt5_core.download`` for one symbol (checked, before any I/O)."""
    start_dt, end_dt = _parse_range(start, end)
    return {
        "symbols": [str(symbol)], "timeframe": parse_timeframe(timeframe), "start": start_dt, "end": end_dt,
        "progress": None if show_progress else False, "cache_dir": cache_dir, "group_by": "ticker",
    }


def _check_args(kwargs: dict[str, Any]) -> None:
    """Validate the timeframe and dates of one symbol before any connection is made."""
    parse_timeframe(kwargs.get("timeframe", "1d"))
    _parse_range(kwargs.get("start"), kwargs.get("end"))


def _parse_range(start: DatetimeLike | None, end: DatetimeLike | None) -> tuple[datetime | None, datetime | None]:
    start_dt = None if start is None else _to_utc(start, "start")
    end_dt = None if end is None else _to_utc(end, "end")
    if start_dt is not None and end_dt is not None and end_dt < start_dt:
        raise InvalidRequest(f"end ({end_dt.isoformat()}) is before start ({start_dt.isoformat()})")
    return start_dt, end_dt


def _to_utc(value: DatetimeLike, what: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, str | int | float | datetime | date | np.datetime64):
        raise InvalidRequest(f"{what}: expected a date/time, not {type(value).__name__}")
    try:
        return to_tzaware_datetime(value, tz=get_utc_tz())
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidRequest(f"{what}: cannot parse {value!r} as a date/time") from exc


def _reject_async(client: object, method: str) -> None:
    if client is not None and inspect.iscoroutinefunction(getattr(client, "bars", None)):
        raise InvalidRequest(
            f"client is an async MT5Client: use `await MT5Data.{method}_async(...)`, "
            "or pass an MT5ClientSync"
        )


@cache
def _client_keywords() -> frozenset[str]:
    """The keyword-only parameters of ``MT5Client(...)`` (``timeout``, ``verify_tls``, ...)."""
    from pymt5_core.client import MT5Client

    params = inspect.signature(MT5Client.__init__).parameters.values()
    return frozenset(p.name for p in params if p.kind is p.KEYWORD_ONLY)


def _split_connection(**kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``kwargs`` into the connection (credentials and ``MT5Client`` keywords) and the rest."""
    keys = {*_CREDENTIALS, *_client_keywords()}
    connection = {k: kwargs.pop(k) for k in list(kwargs) if k in keys}
    return connection, kwargs


def _stored_connection(download_kwargs: dict[str, Any]) -> dict[str, Any]:
    keys = {*_CREDENTIALS, *_client_keywords()}
    return {k: v for k, v in download_kwargs.items() if k in keys}


@contextmanager
def _session(client: Any, connection: dict[str, Any]) -> Iterator[Any]:
    """Yield ``client`` as is, or a freshly logged-in ``MT5ClientSync`` that is closed on exit."""
    if client is not None:
        yield client
        return
    options = {**mt5_settings(), **{k: v for k, v in connection.items() if v is not None}}
    url = options.pop("url", None) or os.environ.get("PYMT5_URL")
    login = options.pop("login", None) or os.environ.get("PYMT5_LOGIN")
    password = options.pop("password", None) or os.environ.get("PYMT5_PASSWORD")
    if not url:
        raise InvalidRequest('no server: pass url=... or client=..., set vbt.settings.data["mt5"]["url"] or PYMT5_URL')
    if login is None or password is None:
        raise InvalidRequest('no credentials: pass login= and password=, or set vbt.settings.data["mt5"]')
    try:
        account = check_login(login)
    except InvalidRequest:
        raise InvalidRequest(f"login must be an account number, not {login!r}") from None
    check_url(url)
    own = _connect(url, account, password, options)
    try:
        yield own
    finally:
        own.close()


def _connect(url: str, login: int, password: str, options: dict[str, Any]) -> Any:
    from pymt5_core.sync import connect

    return connect(url, login, password, **options)


register_settings()
quiet_infer_freq()
