"""Optional strict validation of incoming bodies, on when the environment has ``PYMT5_DEBUG=1``.

Every reader ends with one ``if debug.ENABLED:`` block that calls :func:`check_body` (fixed or counted
content: the reader must have consumed the body exactly) or :func:`check_array` (an uncounted array: no
partial record at the end). Both then check the time fields of the decoded records; which fields are
times comes from the layouts (FILETIME by type, integer fields by their :class:`~pymt5_core.wire.codec.TimeKind`),
embedded records included. With the variable unset the cost is one attribute test per message.

Checks raise :class:`~pymt5_core.errors.ProtocolError` naming the reader; they flag what the official
client tolerates silently (trailing bytes, partial records, impossible times).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from pymt5_core.errors import ProtocolError
from pymt5_core.wire.codec import FILETIME_EPOCH_OFFSET_MS, FieldType, TimeKind
from pymt5_core.wire.layout import Layout
from pymt5_core.wire.layouts import LAYOUTS

__all__ = ["ENABLED", "check_array", "check_body", "check_remainder", "check_seconds", "check_times",
           "check_trailing"]

ENABLED: bool = os.environ.get("PYMT5_DEBUG", "") == "1"

# 1990-01-01 and 2100-01-01: no quote, order, deal or symbol date of an MT5 server lies outside.
_Y1990, _Y2100 = 631_152_000, 4_102_444_800
_FILETIME = "filetime"

#: Per kind of time field: lowest and highest possible value and the values meaning "none" (in the unit the
#: readers return: seconds, or Unix milliseconds for FILETIME, whose "none" is a zero tick count). An event
#: time of "none" is 0 or all bits set: the official terminal sends -1 as the ``lasttime`` of a statistics
#: record that carries no field (``messages.json`` "tickers"), and all bits set is the protocol's "not set"
#: (SPEC 7.19), 4294967295 in a u32. Bars are history, which servers may keep from 1970 on.
_WINDOWS: dict[str, tuple[int, int, tuple[int, ...]]] = {
    TimeKind.UNIX: (_Y1990, _Y2100, (0, -1, 2**32 - 1)),
    TimeKind.HISTORY: (0, _Y2100, ()),
    TimeKind.UTC_OFFSET: (-12 * 3600, 14 * 3600, ()),
    _FILETIME: (_Y1990 * 1000, _Y2100 * 1000, (-FILETIME_EPOCH_OFFSET_MS,)),
}


def check_trailing(what: str, body_length: int, consumed: int) -> None:
    """Raise when a reader stopped before (or needed more than) the end of the body."""
    if consumed < body_length:
        raise ProtocolError(f"{what}: {body_length - consumed} trailing bytes after the last field")
    if consumed > body_length:
        raise ProtocolError(f"{what}: body ends {consumed - body_length} bytes before the end of its last field")


def check_remainder(what: str, body_length: int, record_size: int) -> None:
    """Raise when an uncounted array leaves a partial record at the end."""
    if body_length % record_size:
        raise ProtocolError(f"{what}: {body_length % record_size} bytes after the last whole record")


def check_seconds(what: str, seconds: npt.NDArray[Any] | int) -> None:
    """Raise when a Unix-seconds value (or array) lies outside 1990..2100 and is not "none" (0, or all bits set)."""
    _check_window(what, TimeKind.UNIX, seconds)


def check_body(what: str, body_length: int, consumed: int, *parts: tuple[Layout, Any]) -> None:
    """Check a body whose content is fixed or counted: ``consumed`` must be its length.

    ``parts`` are ``(layout, records)`` pairs whose time fields :func:`check_times` then checks.
    """
    check_trailing(what, body_length, consumed)
    for layout, values in parts:
        check_times(what, layout, values)


def check_array(what: str, body_length: int, layout: Layout, values: Any) -> None:
    """Check an uncounted array of ``layout`` records filling a body: no partial record, possible times."""
    check_remainder(what, body_length, layout.size)
    check_times(what, layout, values)


def check_times(what: str, layout: Layout, values: Any) -> None:
    """Raise when a time field of ``layout`` holds an impossible value.

    ``values`` is a structured array (checked column by column), one record (a dict or an object with
    the fields as attributes) or a list of records. Embedded records given decoded are checked too.
    """
    times, nested = _time_fields(layout)
    if isinstance(values, np.ndarray):
        names = values.dtype.names or ()
        for name, kind in times:
            if name in names:
                _check_window(f"{what}: {layout.name}.{name}", kind, values[name])
        return
    for record in values if isinstance(values, (list, tuple)) else (values,):
        for name, kind in times:
            value = _get(record, name)
            if value is not None:
                _check_window(f"{what}: {layout.name}.{name}", kind, value)
        for name, inner in nested:
            value = _get(record, name)
            if isinstance(value, Mapping):
                check_times(what, inner, value)


@cache
def _time_fields(layout: Layout) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, Layout], ...]]:
    """The time fields of a layout with their kind, and its embedded records with their layout."""
    times = tuple((f.name, _FILETIME) for f in layout.spec if f.type is FieldType.TIME) + tuple(
        (f.name, str(f.time)) for f in layout.spec if f.time is not None
    )
    nested = tuple((f.name, LAYOUTS[f.nested]) for f in layout.spec if f.nested is not None)
    return times, nested


def _get(record: Any, name: str) -> Any:
    return record.get(name) if isinstance(record, Mapping) else getattr(record, name, None)


def _check_window(what: str, kind: str, values: npt.NDArray[Any] | int) -> None:
    lo, hi, nones = _WINDOWS[kind]
    arr = np.atleast_1d(np.asarray(values)).astype("<i8")
    bad = ((arr < lo) | (arr > hi)) & ~np.isin(arr, nones)
    if bad.any():
        raise ProtocolError(f"{what}: impossible time {int(arr[np.argmax(bad)])}")
