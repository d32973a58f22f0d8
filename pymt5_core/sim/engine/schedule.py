"""Calendar helpers: trade sessions, day ends and swap rollovers.

Times are Unix (UTC); ``shift`` is the server's offset from UTC in seconds, because sessions, day ends and
rollovers follow the server's clock (SPEC §9.6).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["DAY_S", "end_of_day_s", "is_open", "rollovers_between"]

DAY_S = 86_400
_WEDNESDAY = 2  # Python weekday numbering (Monday 0)


def end_of_day_s(t_s: int, shift: int = 0) -> int:
    """The server-time 00:00 that ends the day containing ``t_s``, as Unix seconds."""
    return ((t_s + shift) // DAY_S + 1) * DAY_S - shift


def is_open(sessions: Sequence[Sequence[tuple[int, int]]], t_ms: int, shift: int = 0) -> bool:
    """True when ``t_ms`` falls into a trade session (days Sunday first, minutes ``from <= m < to``)."""
    if not sessions:
        return False
    t_s = t_ms // 1000 + shift
    day = (t_s // DAY_S + 4) % 7  # 1970-01-01 was a Thursday (Sunday-first index 4)
    minute = t_s % DAY_S // 60
    return day < len(sessions) and any(lo <= minute < hi for lo, hi in sessions[day])


def rollovers_between(start_ms: int, end_ms: int, shift: int = 0) -> list[tuple[int, int]]:
    """Swap charges for the midnights in ``(start_ms, end_ms]``: ``(midnight seconds, days charged)``.

    A midnight ending Monday to Friday charges one day of swap; the one ending Wednesday charges three
    (covering the weekend); weekend midnights charge nothing.
    """
    out = []
    midnight = end_of_day_s(start_ms // 1000, shift)
    while midnight * 1000 <= end_ms:
        ended = ((midnight + shift - DAY_S) // DAY_S + 3) % 7  # Monday-first weekday of the day that just ended
        if ended < 5:
            out.append((midnight, 3 if ended == _WEDNESDAY else 1))
        midnight += DAY_S
    return out
