"""``MT5Data``: MetaTrader 5 bars as a vectorbt ``Data`` source."""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import vectorbt as vbt
from tqdm.auto import tqdm
from vectorbt.utils import checks
from vectorbt.utils.datetime_ import get_utc_tz, to_tzaware_datetime

from pymt5_core.download import download as core_download
from pymt5_core.errors import InvalidRequest
from pymt5_vectorbt._compat import quiet_infer_freq, without_freq
from pymt5_vectorbt.parsing import MT5_TIMEFRAMES, parse_timeframe, rates_to_vbt_frame, timeframe_to_timedelta
from pymt5_vectorbt.settings import mt5_settings, register_settings

__all__ = ["MT5Data"]

MT5DataT = TypeVar("MT5DataT", bound="MT5Data")
DatetimeLike = str | int | float | datetime | pd.Timestamp | np.datetime64

_CONNECTION_KEYS = ("url", "login", "password")


class BarsSource(Protocol):
    """What ``MT5Data`` needs from a client: blocking ``bars`` with the ``MT5ClientSync`` signature."""

    def bars(self, symbol: str, timeframe: Any, start: Any = None, end: Any = None) -> npt.NDArray[Any]: ...


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
    the ``PYMT5_URL``/``PYMT5_LOGIN``/``PYMT5_PASSWORD`` environment variables.
    """

    @classmethod
    def download(  # type: ignore[override]
        cls: type[MT5DataT],
        symbols: Hashable | Sequence[Hashable],
        *,
        client: BarsSource | None = None,
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
            client: a logged-in ``MT5ClientSync`` to use instead of opening a session.
            url, login, password: the server and account when ``client`` is None; default
                ``vbt.settings.data["mt5"]``, then ``PYMT5_URL``/``PYMT5_LOGIN``/``PYMT5_PASSWORD``.
            show_progress: show a tqdm bar across symbols (and ``pymt5_core.download``'s chunk bar on long
                downloads).
            tqdm_kwargs: passed to ``tqdm``.
            tz_localize, tz_convert, missing_index, missing_columns, wrapper_kwargs: see ``vbt.Data.from_data``.
            **kwargs: passed to :meth:`download_symbol` (``timeframe``, ``start``, ``end``); wrap a value in
                ``vbt.symbol_dict`` to vary it per symbol. Keys of ``MT5ClientSync(...)`` such as
                ``timeout`` configure the session.

        Raises:
            InvalidRequest: unsupported timeframe, bad dates or missing credentials (before connecting).
        """
        symbols = [symbols] if checks.is_hashable(symbols) else list(symbols)  # type: ignore[arg-type]
        for symbol in symbols:
            _check_args(cls.select_symbol_kwargs(symbol, kwargs))
        connection, kwargs = _split_connection(url=url, login=login, password=password, **kwargs)
        with _session(client, connection) as session, tqdm(
            symbols, disable=not show_progress, **(tqdm_kwargs or {})
        ) as bar:
            data = {}
            for symbol in bar:
                bar.set_description(str(symbol))
                data[symbol] = cls.download_symbol(
                    symbol, client=session, show_progress=show_progress, **cls.select_symbol_kwargs(symbol, kwargs)
                )
        wrapper_kwargs = dict(wrapper_kwargs or {})
        timeframe = kwargs.get("timeframe", "1d")
        if not isinstance(timeframe, vbt.symbol_dict) and MT5_TIMEFRAMES[parse_timeframe(timeframe)] < 43200:
            wrapper_kwargs.setdefault("freq", timeframe_to_timedelta(timeframe))
        return cls.from_data(
            data,
            tz_localize=tz_localize,
            tz_convert=tz_convert,
            missing_index=missing_index,
            missing_columns=missing_columns,
            wrapper_kwargs=wrapper_kwargs,
            # The client is not kept: it cannot be pickled by Data.save and may be closed by then.
            download_kwargs={**kwargs, **{k: v for k, v in connection.items() if v is not None}},
        )

    @classmethod
    def download_symbol(  # type: ignore[override]
        cls,
        symbol: Hashable,
        *,
        timeframe: str | timedelta = "1d",
        start: DatetimeLike | None = None,
        end: DatetimeLike | None = None,
        client: BarsSource | None = None,
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
                a Timestamp, Unix seconds, ...). ``end=None`` is the server's now (UTC now plus the server's
                time offset: MT5 labels bars in server time); ``start=None`` is ``pymt5_core.download``'s
                default (1000 bars, at least a week, before ``end``).
            client: a logged-in client; without one, a session is opened from ``connection`` and closed.
            show_progress: let ``pymt5_core.download`` show its chunk bar on long downloads.
            cache_dir: keep bars in Parquet files there and fetch only what is missing (see
                ``pymt5_core.download``).
            **connection: ``url``, ``login``, ``password`` and ``MT5ClientSync`` keywords.

        Returns:
            The frame described in :class:`MT5Data`.

        Raises:
            InvalidRequest: unsupported timeframe, unparsable dates or ``end`` before ``start``.
        """
        name = parse_timeframe(timeframe)
        start_dt, end_dt = _parse_range(start, end)
        with _session(client, connection) as session:
            frame = core_download(
                [str(symbol)], name, start_dt, end_dt, client=session, progress=None if show_progress else False,
                cache_dir=cache_dir, group_by="ticker",
            )
        return rates_to_vbt_frame(frame[str(symbol)])

    def update_symbol(self, symbol: Hashable, **kwargs: Any) -> pd.DataFrame:
        """Fetch the bars of ``symbol`` from its last bar on (that bar may still have been forming).

        ``**kwargs`` override the keyword arguments the data was downloaded with.
        """
        download_kwargs = self.select_symbol_kwargs(symbol, self.download_kwargs)
        last = self.data[symbol].dropna(how="all").index
        download_kwargs["start"] = last[-1] if len(last) else self.wrapper.index[-1]
        return self.download_symbol(symbol, **{**download_kwargs, **kwargs})

    def update(  # type: ignore[override]
        self: MT5DataT,
        *,
        client: BarsSource | None = None,
        show_progress: bool = False,
        **kwargs: Any,
    ) -> MT5DataT:
        """Return a new ``MT5Data`` with the bars since the last one, over one session.

        Args:
            client: a logged-in client; without one, a session is opened with the download's credentials
                (or ``url``/``login``/``password`` given here) and closed.
            show_progress: accepted for symmetry with ``download``; updates are short and show no bar.
            **kwargs: override the download's keyword arguments (``end``, ``timeframe`` must not change).
        """
        del show_progress
        connection, kwargs = _split_connection(**{**_stored_connection(self.download_kwargs), **kwargs})
        for symbol in self.symbols:
            _check_args(self.select_symbol_kwargs(symbol, {**self.download_kwargs, **kwargs}))
        with _session(client, connection) as session:
            new = super().update(client=session, **kwargs)
        return new._strip_freq()

    @classmethod
    def from_data(cls: type[MT5DataT], data: Any, *args: Any, **kwargs: Any) -> MT5DataT:  # type: ignore[override]
        """``vbt.Data.from_data``, leaving the index without ``freq`` (see ``pymt5_vectorbt._compat``)."""
        return super().from_data(data, *args, **kwargs)._strip_freq()

    def _strip_freq(self: MT5DataT) -> MT5DataT:
        data = {symbol: without_freq(obj) for symbol, obj in self.data.items()}
        index = next(iter(data.values())).index
        return self.replace(wrapper=self.wrapper.replace(index=index), data=data)


# --- helpers -------------------------------------------------------------------------------------------


def _check_args(kwargs: dict[str, Any]) -> None:
    """Validate timeframe and dates of one symbol before any connection is made."""
    parse_timeframe(kwargs.get("timeframe", "1d"))
    _parse_range(kwargs.get("start"), kwargs.get("end"))


def _parse_range(start: DatetimeLike | None, end: DatetimeLike | None) -> tuple[datetime | None, datetime | None]:
    start_dt = None if start is None else _to_utc(start, "start")
    end_dt = None if end is None else _to_utc(end, "end")
    if start_dt is not None and end_dt is not None and end_dt < start_dt:
        raise InvalidRequest(f"end ({end_dt.isoformat()}) is before start ({start_dt.isoformat()})")
    return start_dt, end_dt


def _to_utc(value: DatetimeLike, what: str) -> datetime:
    try:
        return to_tzaware_datetime(value, tz=get_utc_tz())
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidRequest(f"{what}: cannot parse {value!r} as a date/time") from exc


def _split_connection(**kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``kwargs`` into the connection (url, login, password, MT5ClientSync keywords) and the rest."""
    client_keys = _client_keywords()
    connection = {k: kwargs.pop(k) for k in list(kwargs) if k in _CONNECTION_KEYS or k in client_keys}
    return connection, kwargs


def _stored_connection(download_kwargs: dict[str, Any]) -> dict[str, Any]:
    client_keys = _client_keywords()
    return {k: v for k, v in download_kwargs.items() if k in _CONNECTION_KEYS or k in client_keys}


def _client_keywords() -> frozenset[str]:
    """The keyword-only parameters of ``MT5Client(...)`` (``timeout``, ``verify_tls``, ...)."""
    import inspect

    from pymt5_core.client import MT5Client

    params = inspect.signature(MT5Client.__init__).parameters.values()
    return frozenset(p.name for p in params if p.kind is p.KEYWORD_ONLY)


@contextmanager
def _session(client: BarsSource | None, connection: dict[str, Any]) -> Iterator[BarsSource]:
    """Yield ``client`` as is, or a freshly logged-in ``MT5ClientSync`` that is closed on exit."""
    if client is not None:
        yield client
        return
    options = {**mt5_settings(), **{k: v for k, v in connection.items() if v is not None}}
    url = options.pop("url", None) or os.environ.get("PYMT5_URL")
    login = options.pop("login", None) or os.environ.get("PYMT5_LOGIN")
    password = options.pop("password", None) or os.environ.get("PYMT5_PASSWORD")
    if not url:
        raise InvalidRequest('no server: pass url=..., set vbt.settings.data["mt5"]["url"] or PYMT5_URL')
    if login is None or password is None:
        raise InvalidRequest('no credentials: pass login= and password=, or set vbt.settings.data["mt5"]')
    try:
        account = int(login)
    except ValueError:
        raise InvalidRequest(f"login must be an account number, not {login!r}") from None
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
