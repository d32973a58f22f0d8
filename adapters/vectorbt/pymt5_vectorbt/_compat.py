"""Keep vectorbt 1.2 quiet on pandas 3 along the MT5Data path.

vectorbt 1.2 was written against pandas 2. On pandas 3 the path download -> update -> get -> Portfolio
emits ``Pandas4Warning`` in two places (both fatal under ``python -W error``):

1. ``DatetimeIndex.inferred_freq`` warns that it will return an offset instead of a string unless the
   option ``future.infer_freq_returns_offset`` is set. vectorbt reads it in ``Data.from_data``,
   ``Data.update`` and ``ArrayWrapper.freq``. vectorbt 1.2 expects the string (its
   ``freq_to_timedelta`` parses strings), so :func:`quiet_infer_freq` sets the option to ``False``,
   the current behaviour, only if nobody has chosen a value yet.
2. ``freq_to_timedelta`` checks ``isinstance(freq, pd.DateOffset)``, which warns when ``freq`` is a
   ``Tick`` offset such as ``Hour``. vectorbt hands it ``index.freq``, which ``Data.from_data`` sets
   from ``inferred_freq``. :func:`without_freq` clears ``index.freq`` again; vectorbt then falls back
   to ``inferred_freq`` (a string, see 1.) and gets the same frequency without the warning.
"""

from __future__ import annotations

from typing import TypeVar

import pandas as pd

__all__ = ["quiet_infer_freq", "without_freq"]

_OPTION = "future.infer_freq_returns_offset"

PandasT = TypeVar("PandasT", pd.Series, pd.DataFrame)


def quiet_infer_freq() -> None:
    """Opt out of pandas 3's ``inferred_freq`` change warning unless the option was already chosen."""
    try:
        if pd.get_option(_OPTION) is None:
            pd.set_option(_OPTION, False)
    except KeyError:  # pandas < 3 or > 3.x: no such option, nothing to silence
        pass


def without_freq(obj: PandasT) -> PandasT:
    """Return ``obj`` with a datetime index that carries no ``freq`` (a copy of the index, not of the data)."""
    index = obj.index
    if isinstance(index, pd.DatetimeIndex) and index.freq is not None:
        obj = obj.copy(deep=False)
        obj.index = pd.DatetimeIndex(index, freq=None)
    return obj
