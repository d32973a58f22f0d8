"""Weekly trading and quoting sessions in server-time minutes (SPEC §6.2 Schedule, §9.6).

A week is seven tuples of ``(from_minute, to_minute)`` ranges, Sunday first; a range covers the minutes
``m`` with ``from <= m < to`` (``to`` may be 1440). Server time is UTC plus the server's timezone shift.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from pymt5_core.wire import LAYOUTS

__all__ = [
    "DAYS",
    "MINUTES_PER_DAY",
    "MINUTES_PER_WEEK",
    "SLOTS_PER_DAY",
    "WeekSessions",
    "in_session",
    "pack_week",
    "parse_week",
    "utc_week_mask",
    "validate_week",
    "weekday",
    "weekdays",
]

#: Seven tuples (Sunday first) of ``(from_minute, to_minute)`` ranges.
WeekSessions = tuple[tuple[tuple[int, int], ...], ...]

DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
MINUTES_PER_DAY = 1440
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
#: Session slots per day in the Schedule record.
SLOTS_PER_DAY = 16
# 1970-01-01 was a Thursday: day index 4 when Sunday is 0.
_EPOCH_WEEKDAY = 4


def weekday(day: int) -> int:
    """Return the weekday (0 = Sunday) of a day counted from 1970-01-01."""
    return (day + _EPOCH_WEEKDAY) % 7


def weekdays(days: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Return the weekdays (0 = Sunday) of days counted from 1970-01-01."""
    return (days + _EPOCH_WEEKDAY) % 7


def parse_week(table: Mapping[str, str]) -> WeekSessions:
    """Build a week from a readable table; days not named are closed.

    Example: ``{"Mon-Thu": "00:00-22:00 23:00-24:00", "Fri": "00:00-22:00", "Sun": "23:00-24:00"}``;
    a day range may wrap around the week (``"Sat-Sun"``).

    Raises:
        ValueError: an unknown day name or a malformed time range.
    """
    week: list[tuple[tuple[int, int], ...]] = [() for _ in DAYS]
    for days, ranges in table.items():
        first, _, last = days.partition("-")
        try:
            lo, hi = DAYS.index(first), DAYS.index(last or first)
        except ValueError:
            raise ValueError(f"unknown day range {days!r}; days are {', '.join(DAYS)}") from None
        sessions = tuple(_parse_range(r) for r in ranges.split())
        for k in range((hi - lo) % 7 + 1):
            week[(lo + k) % 7] = sessions
    result = tuple(week)
    validate_week(result)
    return result


def _parse_range(text: str) -> tuple[int, int]:
    start, sep, end = text.partition("-")
    if not sep:
        raise ValueError(f"malformed session {text!r}; expected HH:MM-HH:MM")
    return _minutes(start), _minutes(end)


def _minutes(text: str) -> int:
    hours, sep, minutes = text.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit():
        raise ValueError(f"malformed time {text!r}; expected HH:MM")
    return int(hours) * 60 + int(minutes)


def validate_week(week: WeekSessions) -> None:
    """Check that a week has seven days of at most 16 ordered ranges inside 0..1440.

    Raises:
        ValueError: the week does not fit the Schedule record.
    """
    if len(week) != 7:
        raise ValueError(f"a week has 7 days, got {len(week)}")
    for name, sessions in zip(DAYS, week, strict=True):
        if len(sessions) > SLOTS_PER_DAY:
            raise ValueError(f"{name}: at most {SLOTS_PER_DAY} sessions per day")
        for start, end in sessions:
            if not 0 <= start <= end <= MINUTES_PER_DAY:
                raise ValueError(f"{name}: session {start}-{end} is outside 0..{MINUTES_PER_DAY}")


def in_session(week: WeekSessions, server_time_ms: int) -> bool:
    """Tell whether a server-time instant falls in one of the week's sessions (SPEC §9.6)."""
    seconds = server_time_ms // 1000
    minute = seconds % 86_400 // 60
    return any(start <= minute < end for start, end in week[weekday(seconds // 86_400)])


def pack_week(week: WeekSessions) -> bytes:
    """Encode a week as 7 x 16 Session records (448 bytes), unused slots ``(0, 0)``."""
    slots = LAYOUTS["Session"].empty_array(7 * SLOTS_PER_DAY)
    for day, sessions in enumerate(week):
        for i, (start, end) in enumerate(sessions):
            slots[day * SLOTS_PER_DAY + i] = (start, end)
    return slots.tobytes()


def utc_week_mask(week: WeekSessions, timezone_shift: int) -> npt.NDArray[np.bool_]:
    """Return which minutes of a UTC week (Sunday 00:00 UTC first) are inside the sessions.

    Args:
        week: sessions in server time.
        timezone_shift: server time minus UTC, in seconds (a whole number of minutes).

    Raises:
        ValueError: the shift is not a whole number of minutes.
    """
    if timezone_shift % 60:
        raise ValueError(f"timezone shift {timezone_shift} s is not a whole number of minutes")
    server = np.zeros(MINUTES_PER_WEEK, dtype=bool)
    for day, sessions in enumerate(week):
        for start, end in sessions:
            server[day * MINUTES_PER_DAY + start : day * MINUTES_PER_DAY + end] = True
    # UTC minute u is server minute u + shift.
    return np.roll(server, -(timezone_shift // 60))
