"""``PYMT5_DEBUG=1``: strict checks that turn what the official client tolerates into ProtocolError.

With debug off the same bodies decode exactly as the official reader decodes them. Every reader is run here
on a valid body: the official-codec vectors of ``messages.json`` for answers and pushes, our builders for
request payloads.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import struct
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pymt5_core.errors import ProtocolError
from pymt5_core.wire import LAYOUTS, debug
from pymt5_core.wire import messages as m
from pymt5_core.wire.codec import Field, FieldType, TimeKind
from pymt5_core.wire.enums import Command, Period
from pymt5_core.wire.layout import Layout
from pymt5_core.wire.records import records

VECTORS = Path(__file__).parents[1] / "data" / "vectors"
OFFICIAL_MESSAGES: list[dict[str, Any]] = json.loads((VECTORS / "messages.json").read_text())["messages"]
MESSAGES = {v["name"]: bytes.fromhex(v["body_hex"]) for v in OFFICIAL_MESSAGES}
TICKS = MESSAGES["ticks"]
WHOLE = len(TICKS) // LAYOUTS["Tick"].size * LAYOUTS["Tick"].size
T0 = 1_700_000_000


def ticks_at(*seconds: int) -> bytes:
    ticks = LAYOUTS["Tick"].empty_array(len(seconds))
    ticks["symbol_id"] = 1
    ticks["tick_time"] = seconds
    return m.build_ticks(ticks)


def bars_at(*seconds: int) -> bytes:
    bars = LAYOUTS["Bar"].empty_array(len(seconds))
    bars["time"] = seconds
    return m.build_bars(bars)


# --- one valid body per reader ------------------------------------------------------------------------

_FORM = {"first_name": "Ann", "second_name": "Lee", "email": "ann@example.com"}
_DOC = m.AccountDocument(1, 2, "front.png", b"\x89PNG front", "back.png", b"back")
_CID = bytes(range(16))

#: (reader, vector name or built body): the answers and pushes come from the official codec's vectors.
VALID: list[tuple[Callable[..., Any], str | bytes]] = [
    (m.read_account, "account_full"),
    (m.read_account, "account_header_only"),
    (m.read_symbol_groups, "symbol_groups"),
    (m.read_spreads, "spreads"),
    (m.read_symbols, "symbols_basic"),
    (m.read_full_symbols, "symbols_full"),
    (m.read_symbol_update, "symbols_full_push"),
    (m.read_history, "trade_history"),
    (m.read_opened, "open_positions_and_orders"),
    (m.read_book, "book"),
    (m.read_book, "book_empty"),
    (m.read_trade_update, "trade_update"),
    (m.read_trade_update, "order_transactions"),
    (m.read_trade_result, "trade_result"),
    (m.read_trade_outcome, "trade_result"),
    (m.read_corporate_links, "corporate_links"),
    (m.read_trader_params, "trader_params"),
    (m.read_login_response, "login_response"),
    (m.read_open_account_response, "open_account_result"),
    (m.read_verification_response, "verify_result"),
    (m.read_ticks, TICKS[:WHOLE]),
    (m.read_symbol_stats, "tickers"),  # its second record's lasttime is -1: "none"
    (m.read_symbols_compressed, m.build_symbols_compressed(m.read_symbols(MESSAGES["symbols_basic"]))),
    (m.read_bars, bars_at(T0 - T0 % 3600, T0 - T0 % 3600 + 3600)),
    (m.read_trade_status, m.build_trade_status(0)),
    (m.read_link_state, m.build_link_state(0)),
    (m.read_change_password_response, m.build_change_password_response(0)),
    (m.read_bootstrap_response, m.build_bootstrap_response(bytes(64), bytes(32))),
    (m.read_bootstrap_request, m.build_bootstrap_request()),
    (m.read_login_request, m.build_login_request(5000001, "Demo1234!", cid=_CID)),
    (m.read_init_request, m.build_init_request(_CID)),
    (m.read_otp_request, m.build_otp_request(5000001, "Demo1234!", otp="123456")),  # 476 bytes
    (m.read_otp_request, m.build_otp_request(5000001, "ab" * 160, otp="123456")),
    (m.read_change_password_request, m.build_change_password_request("New1234!", "Demo1234!")),
    (m.read_notify_request, m.build_notify_request()),
    (m.read_open_account_request, m.build_open_account_request(_FORM)),
    (m.read_verification_request, m.build_verification_request(_FORM, 4755, _CID)),
    (m.read_open_real_account_request,
     # A birth date in 1980: request times are not checked.
     m.build_open_real_account_request(_FORM, {"first_name": "Ann", "birth_date": 315_532_800_000}, [_DOC])),
    (m.read_rates_request, m.build_rates_request("EURUSD", Period.H1, T0, T0 + 86400)),
    (m.read_history_request, m.build_history_request(0, 0)),
    (m.read_trade_request, m.build_trade_request({"action_id": 1, "trade_symbol": "EURUSD", "trade_volume": 10**6})),
    (m.read_id_list, m.build_id_list([1, 2])),
]
#: Vectors that show a tolerance of the official reader and that strict mode rejects, with what it reports.
ODD_VECTORS = {
    "ticks": (m.read_ticks, "read_ticks: 2 bytes after the last whole record"),
}


def body(case: str | bytes) -> bytes:
    return MESSAGES[case] if isinstance(case, str) else case


def case_id(case: tuple[Callable[..., Any], str | bytes]) -> str:
    reader, source = case
    return f"{reader.__name__}[{source if isinstance(source, str) else len(source)}]"


def test_every_reader_and_every_vector_has_a_valid_case() -> None:
    readers = {n for n in m.__all__ if n.startswith("read_")}
    assert {reader.__name__ for reader, _ in VALID} == readers
    assert {s for _, s in VALID if isinstance(s, str)} | set(ODD_VECTORS) == set(MESSAGES)


#: The readers of each command whose answers and pushes ``messages.json`` holds (push 19 has two).
READERS: dict[int, tuple[Callable[[bytes], Any], ...]] = {
    Command.ACCOUNT: (m.read_account,), Command.OPENED: (m.read_opened,), Command.HISTORY: (m.read_history,),
    Command.SYMBOLS: (m.read_symbols,), Command.TICKS: (m.read_ticks,), Command.TRADE_UPDATE: (m.read_trade_update,),
    Command.SYMBOL_GROUPS: (m.read_symbol_groups,), Command.SYMBOL_UPDATE: (m.read_symbol_update,),
    Command.SYMBOL_STATS: (m.read_symbol_stats,), Command.FULL_SYMBOLS: (m.read_full_symbols,),
    Command.TRADE_RESULT: (m.read_trade_result, m.read_trade_outcome), Command.SPREADS: (m.read_spreads,),
    Command.BOOK: (m.read_book,), Command.VERIFY_CODES_REQUEST: (m.read_verification_response,),
    Command.LOGIN: (m.read_login_response,), Command.OPEN_DEMO: (m.read_open_account_response,),
    Command.TRADER_PARAMS: (m.read_trader_params,), Command.CORPORATE_LINKS: (m.read_corporate_links,),
}


@pytest.mark.parametrize("vector", OFFICIAL_MESSAGES, ids=lambda v: str(v["name"]))
@pytest.mark.usefixtures("strict")
def test_debug_on_accepts_every_message_the_official_terminal_reads(vector: dict[str, Any]) -> None:
    """Each body through the readers of its command, with no list of exceptions to hide a wrong check.

    Only the partial record that the ``ticks`` vector appends to show the reader's tolerance (ODD_VECTORS)
    is cut off first; its three ticks, and every time of every other vector, are checked.
    """
    source = bytes.fromhex(vector["body_hex"])
    for reader in READERS[vector["command"]]:
        reader(source[:WHOLE] if vector["name"] == "ticks" else source)


@pytest.mark.parametrize("case", VALID, ids=case_id)
@pytest.mark.usefixtures("strict")
def test_debug_on_every_reader_accepts_a_valid_body(case: tuple[Callable[..., Any], str | bytes]) -> None:
    reader, source = case
    reader(body(source))


@pytest.mark.parametrize("case", VALID, ids=case_id)
def test_debug_off_no_reader_calls_a_debug_check(
    monkeypatch: pytest.MonkeyPatch, case: tuple[Callable[..., Any], str | bytes]
) -> None:
    """With the variable unset the readers do no debug work beyond the one ``ENABLED`` test."""
    monkeypatch.setattr(debug, "ENABLED", False)

    def forbidden(*_: Any, **__: Any) -> None:
        raise AssertionError("debug check called with debug off")

    for name in debug.__all__:
        if name.startswith("check_"):
            monkeypatch.setattr(debug, name, forbidden)
    reader, source = case
    reader(body(source) + extra(reader) if case in TRAILING_CASES else body(source))


@pytest.mark.parametrize("name", sorted(ODD_VECTORS))
def test_odd_vectors_decode_with_debug_off_and_are_reported_with_debug_on(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    reader, message = ODD_VECTORS[name]
    monkeypatch.setattr(debug, "ENABLED", False)
    assert len(reader(MESSAGES[name])) == 3
    monkeypatch.setattr(debug, "ENABLED", True)
    with pytest.raises(ProtocolError, match=message):
        reader(MESSAGES[name])


# --- trailing bytes -----------------------------------------------------------------------------------

#: Readers with no room for extra bytes: the bootstrap request is exactly 64 bytes, the bootstrap answer's
#: key is the rest of its body, spread blocks and command 39 documents run to the end of the body.
NO_TRAILING_BYTES = {
    m.read_bootstrap_request, m.read_bootstrap_response, m.read_spreads, m.read_open_real_account_request,
}
#: (reader, body) where one extra byte starts a record that cannot fit: rejected with debug on or off.
ALWAYS_REJECTED = [
    (m.read_bootstrap_request, m.build_bootstrap_request()),
    (m.read_spreads, MESSAGES["spreads"]),
    (m.read_open_real_account_request, next(s for r, s in VALID if r is m.read_open_real_account_request)),
    (m.read_trade_update, MESSAGES["trade_update"]),  # deal records run to the end of the body
    (m.read_account, MESSAGES["account_header_only"]),  # the next section starts and does not fit
]
#: A byte after the 476-byte OTP form is the start of the optional password blob (tested on its own below).
SHORT_OTP = m.build_otp_request(5000001, "Demo1234!", otp="123456")
TRAILING_CASES = [
    (reader, source) for reader, source in VALID
    if reader not in NO_TRAILING_BYTES and source != SHORT_OTP
    and not any(reader is r and body(source) == b for r, b in ALWAYS_REJECTED)
]


#: Bodies whose length the official reader requires to be a multiple of 4.
_U32_ARRAYS = {m.read_link_state, m.read_trade_status, m.read_bars}


def extra(reader: Callable[..., Any]) -> bytes:
    """The smallest surplus the official reader ignores: one byte, or one u32."""
    return bytes(4) if reader in _U32_ARRAYS else b"\0"


@pytest.mark.parametrize("case", TRAILING_CASES, ids=case_id)
@pytest.mark.usefixtures("strict")
def test_debug_on_one_extra_byte_raises_naming_the_reader(case: tuple[Callable[..., Any], str | bytes]) -> None:
    reader, source = case
    with pytest.raises(ProtocolError, match=f"^{reader.__name__}: .*(trailing|after the last whole record|ends)"):
        reader(body(source) + extra(reader))


@pytest.mark.parametrize("case", TRAILING_CASES, ids=case_id)
@pytest.mark.usefixtures("lenient")
def test_debug_off_one_extra_byte_is_ignored_as_by_the_official_reader(
    case: tuple[Callable[..., Any], str | bytes]
) -> None:
    reader, source = case
    same(reader(body(source) + extra(reader)), reader(body(source)))


@pytest.mark.parametrize("case", ALWAYS_REJECTED, ids=case_id)
@pytest.mark.parametrize("enabled", [True, False])
def test_one_extra_byte_that_starts_a_record_is_rejected_with_debug_on_or_off(
    monkeypatch: pytest.MonkeyPatch, case: tuple[Callable[..., Any], bytes], enabled: bool
) -> None:
    monkeypatch.setattr(debug, "ENABLED", enabled)
    reader, source = case
    reader(source)
    with pytest.raises(ProtocolError):
        reader(source + b"\0")


def same(a: Any, b: Any) -> None:
    """Equal decoded values (arrays element-wise, dataclasses by fields)."""
    if isinstance(a, np.ndarray):
        assert a.tobytes() == b.tobytes()
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same(x, y)
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            same(getattr(a, f.name), getattr(b, f.name))
    else:
        assert a == b


def test_a_short_otp_password_blob_is_read_truncated_with_debug_off_and_reported_with_debug_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    short = m.build_otp_request(5000001, "ab" * 160)[:-60]
    monkeypatch.setattr(debug, "ENABLED", False)
    assert m.read_otp_request(short)["password_blob"] == b"\xab" * 100
    monkeypatch.setattr(debug, "ENABLED", True)
    with pytest.raises(ProtocolError, match="read_otp_request: body ends 60 bytes before the end of its last field"):
        m.read_otp_request(short)


@pytest.mark.usefixtures("strict")
def test_debug_on_a_push_10_body_shorter_than_a_u32_is_a_partial_record() -> None:
    assert m.read_trade_update(b"") == []
    with pytest.raises(ProtocolError, match="read_trade_update: 2 bytes after the last whole record"):
        m.read_trade_update(b"\x02\x00")


@pytest.mark.usefixtures("strict")
def test_debug_on_a_cut_compressed_symbol_list_is_reported() -> None:
    whole = m.build_symbols_compressed(m.read_symbols(MESSAGES["symbols_basic"]))
    with pytest.raises(ProtocolError, match="read_symbols_compressed: the compressed stream is cut short"):
        m.read_symbols_compressed(whole[:-6])


# --- the account body (SPEC §10.1): optional sections and the count-0 quirk ---------------------------

MAIN = MESSAGES["account_header_only"]


@pytest.mark.parametrize(
    "tail",
    [
        b"",  # header only
        struct.pack("<Ii", 0, 7),  # zero count re-read as trade_flags, symbols_count follows
        struct.pack("<IiiQiI", 0, 0, 7, 0, 0, 0),  # every section written after a zero count: 4 bytes unread
        struct.pack("<IiiQ", 0, 0, 7, 0),  # ... cut after leverage_flags
    ],
)
@pytest.mark.usefixtures("strict")
def test_debug_on_account_bodies_ending_after_any_section_or_shifted_by_the_quirk_are_accepted(tail: bytes) -> None:
    m.read_account(MAIN + tail)


@pytest.mark.usefixtures("strict")
def test_debug_on_account_body_with_bytes_beyond_the_quirk_shift_is_reported() -> None:
    with pytest.raises(ProtocolError, match="read_account: 5 trailing bytes"):
        m.read_account(MAIN + struct.pack("<IiiQiI", 0, 0, 7, 0, 0, 0) + b"\0")


# --- impossible times -----------------------------------------------------------------------------------


def _stats_at(*seconds: int) -> bytes:
    stats = m.read_symbol_stats(MESSAGES["tickers"]).copy()
    stats["lasttime"] = seconds
    return m.build_symbol_stats(stats)


def _book() -> bytes:
    blocks = m.read_book(MESSAGES["book"])
    blocks[1].books_time = 5
    return m.build_book(blocks)


def _spreads() -> bytes:
    entries = m.read_spreads(MESSAGES["spreads"])
    entries[0].legs_b[1]["time_to"] = 5
    return m.build_spreads(entries)


def _opened() -> bytes:
    positions, orders = (records(a) for a in m.read_opened(MESSAGES["open_positions_and_orders"]))
    orders[1]["time_expiration"] = 5
    return m.build_opened(positions, orders)


def _history() -> bytes:
    deals, orders = (records(a) for a in m.read_history(MESSAGES["trade_history"]))
    deals[1]["time_update"] = 5
    return m.build_history(deals, orders)


def _deal_update(where: str) -> bytes:
    updates = m.read_trade_update(MESSAGES["trade_update"])
    update = updates[0]
    assert isinstance(update, m.DealUpdate)
    {"deal": update.deal, "position": update.position, "deals": update.deals[0], "positions": update.positions[0]}[
        where
    ]["time_create"] = 5
    return m.build_trade_update(updates)


def _order_update() -> bytes:
    updates = m.read_trade_update(MESSAGES["order_transactions"])
    assert isinstance(updates[1], m.OrderUpdate)
    updates[1].order["time_done"] = 5
    return m.build_trade_update(updates)


def _symbols(builder: Callable[[Any], bytes], reader: Callable[[bytes], Any], name: str) -> bytes:
    symbols = reader(MESSAGES[name])
    symbols[-1]["time_expiration"] = 5
    return builder(symbols)


def _account(shift: int) -> bytes:
    account = m.read_account(MESSAGES["account_full"])
    account.main["timezone_shift"] = shift
    return m.build_account(account)


def _deal(where: str) -> Callable[[Any], int]:
    def got(updates: Any) -> int:
        u = updates[0]
        record = {"deal": u.deal, "position": u.position, "deals": u.deals[0], "positions": u.positions[0]}[where]
        return int(record["time_create"])
    return got


#: (reader, body with one impossible time, the report naming reader, record and field, where the value
#: lands in the decoded result).
BAD_TIMES: list[tuple[Callable[..., Any], bytes, str, Callable[[Any], Any]]] = [
    (m.read_ticks, ticks_at(T0, 5), "read_ticks: Tick.tick_time: impossible time 5", lambda d: d["tick_time"][1]),
    (m.read_symbol_stats, _stats_at(T0, 5), "read_symbol_stats: SymbolStats.lasttime: impossible time 5",
     lambda d: d["lasttime"][1]),
    (m.read_bars, bars_at(T0, -86400), "read_bars: Bar.time: impossible time -86400", lambda d: d["time"][1]),
    (m.read_book, _book(), "read_book: BookHeader.books_time: impossible time 5", lambda d: d[1].books_time),
    (m.read_spreads, _spreads(), "read_spreads: SpreadLeg.time_to: impossible time 5",
     lambda d: d[0].legs_b[1]["time_to"]),
    (m.read_opened, _opened(), "read_opened: Order.time_expiration: impossible time 5",
     lambda d: d[1]["time_expiration"][1]),
    (m.read_history, _history(), "read_history: Deal.time_update: impossible time 5", lambda d: d[0]["time_update"][1]),
    (m.read_trade_update, _deal_update("deal"), "read_trade_update: Deal.time_create: impossible time 5",
     _deal("deal")),
    (m.read_trade_update, _deal_update("position"), "read_trade_update: Position.time_create: impossible time 5",
     _deal("position")),
    (m.read_trade_update, _deal_update("deals"), "read_trade_update: Deal.time_create: impossible time 5",
     _deal("deals")),
    (m.read_trade_update, _deal_update("positions"), "read_trade_update: Position.time_create: impossible time 5",
     _deal("positions")),
    (m.read_trade_update, _order_update(), "read_trade_update: Order.time_done: impossible time 5",
     lambda d: d[1].order["time_done"]),
    (m.read_full_symbols, _symbols(m.build_full_symbols, m.read_full_symbols, "symbols_full"),
     "read_full_symbols: SymbolFull.time_expiration: impossible time 5", lambda d: d[-1]["time_expiration"]),
    (m.read_symbol_update, _symbols(m.build_symbol_update, m.read_symbol_update, "symbols_full_push"),
     "read_symbol_update: SymbolFull.time_expiration: impossible time 5", lambda d: d[-1]["time_expiration"]),
    (m.read_account, _account(-13 * 3600), "read_account: AccountMain.timezone_shift: impossible time -46800",
     lambda d: d.main["timezone_shift"]),
    (m.read_account, _account(15 * 3600), "read_account: AccountMain.timezone_shift: impossible time 54000",
     lambda d: d.main["timezone_shift"]),
]
BadTime = tuple[Callable[..., Any], bytes, str, Callable[[Any], Any]]


def bad_id(case: BadTime) -> str:
    return case[2].split(": impossible")[0].replace(": ", "-")


@pytest.mark.parametrize("case", BAD_TIMES, ids=bad_id)
@pytest.mark.usefixtures("strict")
def test_debug_on_an_impossible_time_raises_naming_reader_record_and_field(case: BadTime) -> None:
    reader, source, message, _ = case
    with pytest.raises(ProtocolError, match=f"^{message}$"):
        reader(source)


@pytest.mark.parametrize("case", BAD_TIMES, ids=bad_id)
@pytest.mark.usefixtures("lenient")
def test_debug_off_an_impossible_time_decodes_as_sent(case: BadTime) -> None:
    reader, source, message, got = case
    assert got(reader(source)) == int(message.rsplit(" ", 1)[1])


@pytest.mark.parametrize("seconds", [12_345, 631_151_999, -2])
@pytest.mark.usefixtures("lenient")
def test_debug_off_ticks_with_an_impossible_time_decode_as_sent(seconds: int) -> None:
    assert m.read_ticks(ticks_at(T0, seconds))["tick_time"].tolist() == [T0, seconds]


@pytest.mark.parametrize("seconds", [12_345, 631_151_999, -2])
@pytest.mark.usefixtures("strict")
def test_debug_on_ticks_outside_1990_to_2100_raise(seconds: int) -> None:
    with pytest.raises(ProtocolError, match=f"impossible time {seconds}$"):
        m.read_ticks(ticks_at(T0, seconds))


@pytest.mark.parametrize("seconds", [0, -1, 631_152_000, T0, 2**31 - 1])
@pytest.mark.usefixtures("strict")
def test_debug_on_times_from_1990_to_2100_and_zero_or_minus_one_for_none_are_accepted(seconds: int) -> None:
    assert m.read_ticks(ticks_at(seconds))["tick_time"].tolist() == [seconds]


@pytest.mark.usefixtures("strict")
def test_debug_on_bars_are_history_that_may_reach_back_to_1970() -> None:
    """The client pages bars back to the epoch, and a server may hold that much history."""
    assert m.read_bars(bars_at(0, 86400 * 3650), Period.D1)["time"].tolist() == [0, 86400 * 3650]


@pytest.mark.usefixtures("strict")
def test_request_times_are_query_bounds_and_are_not_checked() -> None:
    """The client pages bars back to the epoch (``to`` = 1 is a valid bound); a server answers bad user
    times with return codes, so request payloads are only checked for trailing bytes."""
    assert m.read_rates_request(m.build_rates_request("EURUSD", Period.M1, 0, 1))[2:] == (0, 1)
    assert m.read_history_request(m.build_history_request(5, 6)) == (5, 6)


# --- the helpers ----------------------------------------------------------------------------------------


def test_time_fields_come_from_the_layouts() -> None:
    """FILETIME fields by type, integer fields by their TimeKind; windows in each field's own unit."""
    layout = Layout("Probe", [Field("born", FieldType.TIME), Field("at", FieldType.U32, time=TimeKind.UNIX),
                              Field("shift", FieldType.I32, time=TimeKind.UTC_OFFSET), Field("n", FieldType.U32),
                              Field("bar", FieldType.I32, time=TimeKind.HISTORY)])
    ok = {"born": T0 * 1000, "at": T0, "shift": -3600, "n": 5, "bar": 86400 * 3650}
    debug.check_times("probe", layout, ok)
    # FILETIME 0 is "none", and so are an event time of 0 or with all bits set; history starts at 1970.
    for nones in ({"n": 5}, {"at": 2**32 - 1}):
        debug.check_times("probe", layout, layout.unpack_dict(layout.pack_dict(nones)))
    for name, value in [("born", 12_345), ("at", 5), ("at", 2**32 - 2), ("shift", 15 * 3600), ("bar", -86400)]:
        with pytest.raises(ProtocolError, match=f"^probe: Probe.{name}: impossible time {value}$"):
            debug.check_times("probe", layout, {**ok, name: value})


def test_only_integer_fields_can_count_time() -> None:
    with pytest.raises(ValueError, match="only integer fields"):
        Field("t", FieldType.F64, time=TimeKind.UNIX)


def test_check_trailing_raises_only_when_bytes_are_left_or_missing() -> None:
    debug.check_trailing("body", 10, 10)
    with pytest.raises(ProtocolError, match="2 trailing bytes"):
        debug.check_trailing("body", 10, 8)
    with pytest.raises(ProtocolError, match="ends 3 bytes before"):
        debug.check_trailing("body", 10, 13)


def test_check_seconds_accepts_a_scalar_and_names_the_first_bad_value() -> None:
    debug.check_seconds("t", 0)
    debug.check_seconds("t", 4_102_444_800)
    with pytest.raises(ProtocolError, match="impossible time 4102444801"):
        debug.check_seconds("t", 4_102_444_801)
    with pytest.raises(ProtocolError, match="impossible time 5"):
        debug.check_seconds("t", np.array([T0, 5, 6]))


@pytest.mark.parametrize(("value", "enabled"), [("1", True), ("0", False), ("true", False), ("", False)])
def test_only_pymt5_debug_equal_to_1_enables_the_checks(
    monkeypatch: pytest.MonkeyPatch, value: str, enabled: bool
) -> None:
    monkeypatch.setenv("PYMT5_DEBUG", value)
    try:
        assert importlib.reload(debug).ENABLED is enabled
        with pytest.raises(ProtocolError) if enabled else nullcontext():
            m.read_trade_status(bytes(8))  # the readers see the reloaded value
    finally:
        monkeypatch.undo()
        importlib.reload(debug)
