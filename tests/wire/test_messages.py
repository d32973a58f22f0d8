"""Every message body of ``messages.json`` through our reader, compared with the official reader's output,
then rebuilt byte for byte by the matching builder.

Our readers return wire values; the official readers convert a few of them. The only translations applied
here are the documented ones:

* seconds to milliseconds: official ``tick_time`` and ``lasttime`` are ours x 1000, and official record times
  combine ``time_x * 1000 + time_x_ms`` (``time_expiration`` of orders has no ms part);
* ``tick_time_ms`` (official, computed) equals ``tick_time * 1000 + time_ms_delta``;
* property names: official ``storage_`` is our ``storage``; the official ``trade_position`` of push 10 is our
  ``position``, its ``trade_order`` is our ``order``;
* 64-bit integers come as decimal strings in the vectors;
* the official objects carry client-side properties that are not in the record (``__isCollateral``,
  ``value``, ...); their values in the vectors must be the initial ones listed in ``CLIENT_SIDE``;
* ``auth_password_min``: the official reader reports 8 for a wire 0 ("0 means 8"); ours keeps the 0;
* schedules: the official reader returns all 16 slots of each day; ours keeps the slots with ``from != to``
  (an unused slot ``(0, 0)`` matches nothing, SPEC §9.6).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pymt5_core.errors import ProtocolError
from pymt5_core.wire import LAYOUTS, debug
from pymt5_core.wire.messages import (
    AccountBody,
    BookBlock,
    DealUpdate,
    OrderUpdate,
    SpreadEntry,
    build_account,
    build_book,
    build_corporate_links,
    build_full_symbols,
    build_history,
    build_login_response,
    build_open_account_response,
    build_opened,
    build_spreads,
    build_symbol_groups,
    build_symbol_stats,
    build_symbol_update,
    build_symbols,
    build_symbols_compressed,
    build_ticks,
    build_trade_result,
    build_trade_update,
    build_trader_params,
    build_verification_response,
    read_account,
    read_book,
    read_corporate_links,
    read_full_symbols,
    read_history,
    read_login_response,
    read_open_account_response,
    read_opened,
    read_spreads,
    read_symbol_groups,
    read_symbol_stats,
    read_symbol_update,
    read_symbols,
    read_symbols_compressed,
    read_ticks,
    read_trade_outcome,
    read_trade_result,
    read_trade_update,
    read_trader_params,
    read_verification_response,
)
from pymt5_core.wire.records import Record, records

VECTORS = Path(__file__).parents[1] / "data" / "vectors"
MESSAGES = {m["name"]: m for m in json.loads((VECTORS / "messages.json").read_text())["messages"]}


def body_of(name: str) -> bytes:
    return bytes.fromhex(MESSAGES[name]["body_hex"])


def parsed_of(name: str) -> Any:
    return MESSAGES[name]["parsed"]


#: Properties of the official reader's objects that no record field fills, with their initial values.
CLIENT_SIDE: dict[str, Any] = {
    "__isCollateral": False, "value": 0, "deal": "0", "deal_id": "", "entry": 0, "commission_fee": 0,
    "external_id": "", "expert_position_id": "0", "send_time": 0, "login": 0, "complete": False,
}
#: Official combined times: field -> its millisecond part in our record (None: no ms part).
DEAL_TIMES = {"time_create": "time_create_ms", "time_update": "time_update_ms"}
ORDER_TIMES = {"time_setup": "time_setup_ms", "time_expiration": None, "time_done": "time_done_ms"}
RENAMED = {"storage_": "storage"}


def same(ours: Any, official: Any) -> bool:
    """Equality across the vector conventions (decimal strings for 64-bit integers, JSON numbers)."""
    if isinstance(ours, (bytes, np.void)):
        return bytes(ours).hex() == official
    if isinstance(ours, (list, tuple)) and isinstance(official, list):
        return len(ours) == len(official) and all(same(a, b) for a, b in zip(ours, official, strict=True))
    if isinstance(official, str) and isinstance(ours, int) and not isinstance(ours, bool):
        return ours == int(official)
    if isinstance(official, float) and math.isnan(official):
        return math.isnan(ours)
    return bool(ours == official)


def official_view(ours: Mapping[str, Any], times: Mapping[str, str | None] = {}) -> dict[str, Any]:
    """Our record converted the way the official reader converts it (times to ms, names)."""
    view = dict(ours)
    for name, ms_part in times.items():
        view[name] = view[name] * 1000 + (view.pop(ms_part) if ms_part else 0)
    for official_name, our_name in RENAMED.items():
        if our_name in view:
            view[official_name] = view.pop(our_name)
    return view


def assert_record_matches(
    ours: Mapping[str, Any], official: Mapping[str, Any], times: Mapping[str, str | None] = {},
    unreported: Sequence[str] = (),
) -> None:
    """Every official property equals ours; properties outside the record are at their initial values."""
    view = official_view(ours, times)
    extra = {k: v for k, v in official.items() if k not in view}
    assert {k: CLIENT_SIDE.get(k, "<not a client-side property>") for k in extra} == extra
    assert set(view) - set(official) == set(unreported)
    bad = {k: (view[k], official[k]) for k in official if k in view and not same(view[k], official[k])}
    assert not bad


def assert_positional(ours: Sequence[Any], official: Sequence[Any]) -> None:
    bad = [(i, a, b) for i, (a, b) in enumerate(zip(ours, official, strict=True)) if not same(a, b)]
    assert not bad


def test_every_message_of_the_vectors_is_tested_here() -> None:
    tested = {
        "account_full", "account_header_only", "symbol_groups", "spreads", "symbols_basic", "symbols_full",
        "symbols_full_push", "tickers", "ticks", "trade_history", "open_positions_and_orders", "book",
        "book_empty", "trade_update", "order_transactions", "trade_result", "corporate_links", "trader_params",
        "login_response", "open_account_result", "verify_result",
    }
    assert set(MESSAGES) == tested
    assert all(len(body_of(n)) == MESSAGES[n]["body_length"] for n in MESSAGES)


# --- account (command 3, push 14) ---------------------------------------------------------------------

MAIN_FIELDS = len(LAYOUTS["AccountMain"].fields)


def assert_account_matches(account: AccountBody, official: Sequence[Any]) -> None:
    # The official reader turns auth_password_min 0 into 8 (SPEC: "0 means 8"); ours keeps the wire value.
    main = {**account.main, "auth_password_min": account.main["auth_password_min"] or 8}
    assert_positional([main[f] for f in LAYOUTS["AccountMain"].fields], official[:MAIN_FIELDS])
    settings, trade_flags, symbols_count, leverage_flags, rules, commissions = official[MAIN_FIELDS:]
    assert len(account.trade_settings) == len(settings)
    for ours, theirs in zip(account.trade_settings, settings, strict=True):
        assert_record_matches(ours, theirs)
    assert (account.trade_flags, account.symbols_count) == (trade_flags, symbols_count)
    assert account.leverage_flags == int(leverage_flags)
    assert len(account.leverage_rules) == len(rules)
    for (rule, tiers), theirs in zip(account.leverage_rules, rules, strict=True):
        assert_positional(list(rule.values()), theirs[:-1])
        assert_positional([list(t.values()) for t in tiers], theirs[-1])
    assert len(account.commissions) == len(commissions)
    for (crule, ctiers), theirs in zip(account.commissions, commissions, strict=True):
        assert_positional(list(crule.values()), theirs[:-1])
        assert_positional([list(t.values()) for t in ctiers], theirs[-1])


def test_account_full_body_reads_like_the_official_reader() -> None:
    assert_account_matches(read_account(body_of("account_full")), parsed_of("account_full"))


def test_account_full_body_is_rebuilt_exactly() -> None:
    assert build_account(read_account(body_of("account_full"))) == body_of("account_full")


def test_account_header_only_body_leaves_every_later_section_empty() -> None:
    account = read_account(body_of("account_header_only"))
    assert_account_matches(account, parsed_of("account_header_only"))
    assert (account.trade_settings, account.leverage_rules, account.commissions) == ([], [], [])


def test_account_builder_never_writes_the_header_only_form_but_a_neutral_settings_record() -> None:
    """Our builder always writes every section, with one neutral TradeSettings when there are none (the
    count-0 quirk makes a zero count unreadable), so the header-only body cannot be rebuilt as is."""
    body = body_of("account_header_only")
    rebuilt = build_account(read_account(body))
    assert rebuilt[: len(body)] == body
    again = read_account(rebuilt)
    assert again.main == read_account(body).main
    assert [s["symbol_path"] for s in again.trade_settings] == ["*"]


def test_account_body_with_a_zero_settings_count_reads_that_count_as_trade_flags() -> None:
    """SPEC §10.1 quirk reproduced: a count of 0 is not consumed, so everything after shifts by 4 bytes."""
    main = body_of("account_header_only")
    account = read_account(main + struct.pack("<Ii", 0, 7))
    assert (account.trade_settings, account.trade_flags, account.symbols_count) == ([], 0, 7)
    assert account.leverage_flags == 0


def test_account_body_shorter_than_its_main_record_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        read_account(body_of("account_header_only")[:-1])


def test_account_body_ending_inside_a_settings_record_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        read_account(body_of("account_full")[: 816 + 4 + 100])


# --- symbols (commands 9, 6, 34, 18, push 13) ---------------------------------------------------------


def test_symbol_groups_read_and_rebuild() -> None:
    groups = read_symbol_groups(body_of("symbol_groups"))
    assert groups == [g["group_name"] for g in parsed_of("symbol_groups")]
    assert build_symbol_groups(groups) == body_of("symbol_groups")


def test_symbols_basic_read_like_the_official_reader() -> None:
    got = read_symbols(body_of("symbols_basic"))
    assert_positional([list(r.values()) for r in records(got)], parsed_of("symbols_basic"))


def test_symbols_basic_rebuild_exactly() -> None:
    assert build_symbols(read_symbols(body_of("symbols_basic"))) == body_of("symbols_basic")


def test_compressed_symbols_use_the_inflated_length_prefix_and_zlib() -> None:
    body = body_of("symbols_basic")
    compressed = build_symbols_compressed(read_symbols(body))
    assert struct.unpack_from("<I", compressed)[0] == len(body)
    assert zlib.decompress(compressed[4:]) == body
    assert records(read_symbols_compressed(compressed)) == records(read_symbols(body))


def test_compressed_symbols_with_a_gzip_wrapper_and_any_prefix_read_the_same() -> None:
    body = body_of("symbols_basic")
    got = read_symbols_compressed(b"\xde\xad\xbe\xef" + gzip.compress(body, mtime=0))
    assert records(got) == records(read_symbols(body))


@pytest.mark.parametrize("body", [b"", b"\x00\x00\x00", b"\x00\x00\x00\x00not deflate"])
def test_compressed_symbols_that_do_not_inflate_raise_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        read_symbols_compressed(body)


def official_schedule(days: Sequence[Sequence[Sequence[int]]]) -> list[list[tuple[int, int]]]:
    return [[(a, b) for a, b in day if a != b] for day in days]


def assert_full_symbol_matches(ours: Record, official: Sequence[Any]) -> None:
    fields = LAYOUTS["SymbolFull"].fields
    plain = [ours[f] for f in fields if f not in ("trade", "schedule", "subscription")]
    assert_positional(plain, official[: len(plain)])
    trade, schedule, subscription = official[len(plain) :]
    assert_record_matches(ours["trade"], trade)
    assert ours["schedule"] == {k: official_schedule(v) for k, v in schedule.items()}
    assert_record_matches(ours["subscription"], subscription)


def test_full_symbols_read_like_the_official_reader_and_rebuild_exactly() -> None:
    got = read_full_symbols(body_of("symbols_full"))
    assert len(got) == len(parsed_of("symbols_full"))
    for ours, official in zip(got, parsed_of("symbols_full"), strict=True):
        assert_full_symbol_matches(ours, official)
    assert build_full_symbols(got) == body_of("symbols_full")


def test_symbol_update_push_reads_like_the_official_reader_and_rebuilds_exactly() -> None:
    got = read_symbol_update(body_of("symbols_full_push"))
    assert len(got) == len(parsed_of("symbols_full_push"))
    for ours, official in zip(got, parsed_of("symbols_full_push"), strict=True):
        assert_full_symbol_matches(ours, official)
    assert build_symbol_update(got) == body_of("symbols_full_push")


def test_full_symbols_count_larger_than_the_body_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        read_full_symbols(struct.pack("<I", 2) + body_of("symbols_full")[4:])


# --- spreads (command 20) -----------------------------------------------------------------------------


def assert_leg_matches(ours: Record, official: Mapping[str, Any], spread_id: int) -> None:
    # The official leg objects also carry the parent's spread_id and a back-reference to the parent.
    assert (official["spread_id"], official["spread"]) == (spread_id, "[circular]")
    assert_record_matches(ours, {k: v for k, v in official.items() if k not in ("spread_id", "spread")})


def test_spreads_read_like_the_official_reader() -> None:
    got = read_spreads(body_of("spreads"))
    official = parsed_of("spreads")
    assert len(got) == len(official)
    for entry, theirs in zip(got, official, strict=True):
        assert_record_matches(entry.spread, {k: v for k, v in theirs.items() if k not in ("legs_a", "legs_b")})
        for legs, their_legs in ((entry.legs_a, theirs["legs_a"]), (entry.legs_b, theirs["legs_b"])):
            assert len(legs) == len(their_legs)
            for leg, their_leg in zip(legs, their_legs, strict=True):
                assert_leg_matches(leg, their_leg, entry.spread["spread_id"])


def test_spreads_rebuild_exactly_except_the_skipped_block_prefix_which_we_write_as_zero() -> None:
    """The vector drops an entry with spread_id 0 (we drop it too) and fills the 4 skipped bytes with 0xaa;
    given the dropped entry back, our builder writes the same body with zeros in the skipped bytes."""
    body = body_of("spreads")
    dropped = SpreadEntry(LAYOUTS["Spread"].unpack_dict(body, len(body) - LAYOUTS["Spread"].size))
    assert dropped.spread["spread_id"] == 0
    rebuilt = build_spreads([*read_spreads(body), dropped])
    assert rebuilt[:4] == bytes(4) != body[:4]
    assert rebuilt[4:] == body[4:]


def test_spreads_read_every_block_until_the_end_of_the_body() -> None:
    one = build_spreads(read_spreads(body_of("spreads")))
    assert len(read_spreads(one + one)) == 2


def test_spreads_block_cut_inside_a_leg_array_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        read_spreads(body_of("spreads")[:60])


# --- statistics (push 17) and ticks (push 8) ----------------------------------------------------------


def test_tickers_read_like_the_official_reader_with_lasttime_in_ms() -> None:
    got = records(read_symbol_stats(body_of("tickers")))
    official = parsed_of("tickers")
    assert len(got) == len(official)
    for ours, theirs in zip(got, official, strict=True):
        assert_record_matches({**ours, "lasttime": ours["lasttime"] * 1000}, theirs)


def test_tickers_rebuild_exactly() -> None:
    assert build_symbol_stats(read_symbol_stats(body_of("tickers"))) == body_of("tickers")


@pytest.mark.usefixtures("lenient")  # the official reader drops a partial record
def test_ticks_read_like_the_official_reader_with_combined_ms_time() -> None:
    got = records(read_ticks(body_of("ticks")))
    official = parsed_of("ticks")
    assert len(got) == len(official)
    for ours, theirs in zip(got, official, strict=True):
        assert theirs["tick_time_ms"] == ours["tick_time"] * 1000 + ours["time_ms_delta"]
        theirs = {k: v for k, v in theirs.items() if k != "tick_time_ms"}
        assert_record_matches({**ours, "tick_time": ours["tick_time"] * 1000}, theirs)


@pytest.mark.usefixtures("lenient")  # the official reader drops a partial record
def test_ticks_rebuild_exactly_and_the_trailing_partial_record_is_ignored() -> None:
    body = body_of("ticks")
    ticks = read_ticks(body)
    whole = len(ticks) * LAYOUTS["Tick"].size
    assert 0 < len(body) - whole < LAYOUTS["Tick"].size
    assert build_ticks(ticks) == body[:whole]


# --- positions, orders, history (commands 4, 5) -------------------------------------------------------


def test_trade_history_reads_like_the_official_reader_and_rebuilds_exactly() -> None:
    deals, orders = read_history(body_of("trade_history"))
    official = parsed_of("trade_history")
    assert (len(deals), len(orders)) == (len(official["deals"]), len(official["orders"]))
    for ours, theirs in zip(records(deals), official["deals"], strict=True):
        assert_record_matches(ours, theirs, DEAL_TIMES)
    for ours, theirs in zip(records(orders), official["orders"], strict=True):
        assert_record_matches(ours, theirs, ORDER_TIMES)
    assert build_history(deals, orders) == body_of("trade_history")


def test_open_positions_and_orders_read_like_the_official_reader_and_rebuild_exactly() -> None:
    positions, orders = read_opened(body_of("open_positions_and_orders"))
    official = parsed_of("open_positions_and_orders")
    assert (len(positions), len(orders)) == (len(official["positions"]), len(official["orders"]))
    for ours, theirs in zip(records(positions), official["positions"], strict=True):
        assert_record_matches(ours, theirs, DEAL_TIMES)
    for ours, theirs in zip(records(orders), official["orders"], strict=True):
        assert_record_matches(ours, theirs, ORDER_TIMES)
    assert build_opened(positions, orders) == body_of("open_positions_and_orders")


def test_open_positions_count_beyond_the_body_raises_protocol_error() -> None:
    body = bytearray(body_of("open_positions_and_orders"))
    body[:4] = struct.pack("<I", 100)
    with pytest.raises(ProtocolError):
        read_opened(bytes(body))


# --- depth of market (push 23) ------------------------------------------------------------------------


def test_book_reads_like_the_official_reader_and_rebuilds_exactly() -> None:
    blocks = read_book(body_of("book"))
    official = parsed_of("book")
    assert len(blocks) == len(official)
    for block, theirs in zip(blocks, official, strict=True):
        head = [block.symbol_id, block.books_time, block.time_msc, block.flag_mask, block.books_flags,
                len(block.levels)]
        assert_positional(head, theirs[:6])
        assert_positional([list(level) for level in block.levels.tolist()], theirs[6])
    assert build_book(blocks) == body_of("book")


@pytest.mark.parametrize("body", [b"", b"\x01", b"\x05\x00\x00\x00"])
def test_book_body_of_four_bytes_or_less_carries_no_books(body: bytes) -> None:
    assert read_book(body) == parsed_of("book_empty") == []


def test_book_empty_vector_reads_as_no_books() -> None:
    assert read_book(body_of("book_empty")) == []


def test_book_level_count_beyond_the_body_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        read_book(body_of("book")[:-1 - 22])


def test_book_builder_accepts_levels_in_a_compatible_dtype() -> None:
    levels = np.array([(0, 2, 108345, 10**8)], dtype=[("flag_mask", "<i8"), ("book_type", "<i8"),
                                                      ("price", "<i8"), ("volume", "<i8")])
    (block,) = read_book(build_book([BookBlock(1, levels=levels)]))
    assert block.levels.tolist() == [(0, 2, 108345, 10**8)]


# --- trade transactions (push 10) ---------------------------------------------------------------------


def test_trade_update_deal_kind_reads_like_the_official_reader_and_rebuilds_exactly() -> None:
    updates = read_trade_update(body_of("trade_update"))
    official = parsed_of("trade_update")
    assert len(updates) == len(official)
    for ours, theirs in zip(updates, official, strict=True):
        assert isinstance(ours, DealUpdate)
        assert (theirs["flag_mask"], theirs["transaction_id"], theirs["transaction_type"]) == (
            2, ours.transaction_id, ours.transaction_type)
        assert_record_matches(ours.deal, theirs["deal"], DEAL_TIMES)
        assert_record_matches(ours.position, theirs["trade_position"], DEAL_TIMES)
        money = [ours.balance, ours.credit, ours.commission_daily, ours.commission_monthly, ours.acc_profit]
        assert money == [theirs[k] for k in ("balance", "credit", "commission_daily", "commission_monthly",
                                             "acc_profit")]
        assert len(ours.deals) == len(theirs["deals"]) and len(ours.positions) == len(theirs["positions"])
        for deal, their_deal in zip(ours.deals, theirs["deals"], strict=True):
            assert_record_matches(deal, their_deal, DEAL_TIMES)
        for position, their_position in zip(ours.positions, theirs["positions"], strict=True):
            assert_record_matches(position, their_position, DEAL_TIMES)
    assert build_trade_update(updates) == body_of("trade_update")


def test_trade_update_order_kind_reads_like_the_official_reader_and_rebuilds_exactly() -> None:
    updates = read_trade_update(body_of("order_transactions"))
    official = parsed_of("order_transactions")
    assert len(updates) == len(official)
    for ours, theirs in zip(updates, official, strict=True):
        assert isinstance(ours, OrderUpdate)
        assert [ours.flag_mask, ours.transaction_id, ours.transaction_type] == [
            theirs["flag_mask"], theirs["transaction_id"], theirs["transaction_type"]]
        assert_record_matches(ours.order, theirs["trade_order"], ORDER_TIMES)
    assert build_trade_update(updates) == body_of("order_transactions")


def test_trade_update_repeated_order_record_reads_as_equal_independent_records() -> None:
    first = read_trade_update(body_of("order_transactions"))[0]
    assert isinstance(first, OrderUpdate)
    filled = [OrderUpdate(0, 2, first.order, 7), OrderUpdate(1, 0, first.order, 8), OrderUpdate(1, 1, first.order, 9)]
    body = build_trade_update(filled)
    for source in (body, memoryview(body)):
        updates = read_trade_update(source)
        heads = [(u.flag_mask, u.transaction_type, u.transaction_id) for u in updates]
        assert heads == [(0, 2, 7), (1, 0, 8), (1, 1, 9)]
        orders = [u.order for u in updates if isinstance(u, OrderUpdate)]
        assert orders == [first.order] * 3
        orders[0]["comment"] = "changed"  # each update owns its record
        assert orders[1]["comment"] == orders[2]["comment"] == first.order["comment"] != "changed"


def test_trade_update_records_stay_bytes_until_read_then_are_dicts_like_updates_made_from_dicts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reader leaves each record undecoded (where it lies in the body); reading it makes the dict, once, and
    from then on the update is the same as one made from that dict (fields, equality, repr)."""
    monkeypatch.setattr(debug, "ENABLED", False)  # the PYMT5_DEBUG checks read every record
    layouts = {"order": LAYOUTS["Order"], "deal": LAYOUTS["Deal"], "position": LAYOUTS["Position"]}
    for name in ("order_transactions", "trade_update"):
        body = bytearray(body_of(name))
        for update in read_trade_update(body):
            names = ("order",) if isinstance(update, OrderUpdate) else ("deal", "position")
            places = [getattr(update, f"{n}_at") for n in names]
            assert all(type(at[0]) is bytes and at[0] == body for at in places)  # a copy: the caller's may change
            body[:] = bytes(len(body))
            records = [getattr(update, n) for n in names]
            assert records == [layouts[n].unpack_dict(*at) for n, at in zip(names, places, strict=True)]
            assert all(getattr(update, f"{n}_at") is None for n in names)  # the dict is the record now
            assert all(getattr(update, n) is r for n, r in zip(names, records, strict=True))
            made = dataclasses.replace(update)
            assert made == update and repr(made) == repr(update)
            assert [f.name for f in dataclasses.fields(update)] == [f.name for f in dataclasses.fields(made)]
            body[:] = body_of(name)
    update = read_trade_update(body_of("order_transactions"))[0]
    assert isinstance(update, OrderUpdate)
    update.order = {"trade_order": 1}  # a record set afterwards replaces the undecoded one
    assert update.order == {"trade_order": 1} and update.order_at is None
    with pytest.raises(TypeError):
        OrderUpdate(0, 1)  # type: ignore[call-arg]  # the record is still required


def test_trade_update_builder_refuses_to_mix_order_and_deal_records() -> None:
    mixed = [*read_trade_update(body_of("order_transactions")), *read_trade_update(body_of("trade_update"))]
    with pytest.raises(ValueError):
        build_trade_update(mixed)


@pytest.mark.usefixtures("lenient")  # PYMT5_DEBUG reports the two bytes as a partial record
def test_trade_update_body_shorter_than_a_u32_carries_nothing() -> None:
    assert read_trade_update(b"\x02\x00") == []


def test_trade_update_deal_record_cut_short_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        read_trade_update(body_of("trade_update")[:800])


# --- trade result (push 19) ---------------------------------------------------------------------------


def test_trade_result_reads_like_the_official_reader() -> None:
    echo, result = read_trade_result(body_of("trade_result"))
    reserved, their_echo, their_result = parsed_of("trade_result")
    # The official echo object does not report time_expiration; ours returns it as an int.
    assert_record_matches(echo, their_echo, unreported=["time_expiration"])
    assert isinstance(echo["time_expiration"], int)
    assert_record_matches(result, their_result)
    assert reserved == struct.unpack_from("<I", body_of("trade_result"))[0]


def test_trade_result_rebuilds_exactly_with_the_same_reserved_value() -> None:
    echo, result = read_trade_result(body_of("trade_result"))
    reserved = parsed_of("trade_result")[0]
    assert build_trade_result(echo, result, reserved) == body_of("trade_result")


def test_trade_result_echo_time_expiration_round_trips_as_an_int() -> None:
    echo, result = read_trade_result(body_of("trade_result"))
    again, _ = read_trade_result(build_trade_result({**echo, "time_expiration": 1_700_086_400}, result))
    assert again["time_expiration"] == 1_700_086_400


def test_trade_result_shorter_than_its_record_raises_protocol_error() -> None:
    for reader in (read_trade_result, read_trade_outcome):
        with pytest.raises(ProtocolError):
            reader(body_of("trade_result")[:-1])


def test_trade_outcome_is_the_echoed_action_id_and_the_result() -> None:
    echo, result = read_trade_result(body_of("trade_result"))
    assert read_trade_outcome(body_of("trade_result")) == (echo["action_id"], result)
    again = build_trade_result({**echo, "action_id": 0xFEDCBA98}, result)
    assert read_trade_outcome(again)[0] == 0xFEDCBA98


# --- single-record answers ----------------------------------------------------------------------------


def test_corporate_links_read_like_the_official_reader_and_rebuild_exactly() -> None:
    links = read_corporate_links(body_of("corporate_links"))
    # The official reader reports link_type, label and url; flags and reserved are read but not kept.
    assert_positional([[lk["link_type"], lk["label"], lk["url"]] for lk in links], parsed_of("corporate_links"))
    assert build_corporate_links(links) == body_of("corporate_links")


def test_trader_params_read_and_rebuild() -> None:
    country, currency = read_trader_params(body_of("trader_params"))
    assert [country, currency] == parsed_of("trader_params")
    assert build_trader_params(country, currency) == body_of("trader_params")


def test_login_response_read_and_rebuild() -> None:
    blob, session = read_login_response(body_of("login_response"))
    assert_positional([blob, session], parsed_of("login_response"))
    assert build_login_response(blob, session) == body_of("login_response")


def test_open_account_result_read_and_rebuild() -> None:
    got = read_open_account_response(body_of("open_account_result"))
    assert_positional(list(got.values()), parsed_of("open_account_result"))
    rebuilt = build_open_account_response(got["result"], got["login"], got["password"], got["investor_password"])
    assert rebuilt == body_of("open_account_result")


def test_verify_result_read_and_rebuild() -> None:
    email, phone = read_verification_response(body_of("verify_result"))
    assert [email, phone] == parsed_of("verify_result")
    assert build_verification_response(email, phone) == body_of("verify_result")


@pytest.mark.parametrize(
    ("reader", "size"),
    [(read_trader_params, 64), (read_login_response, 168), (read_open_account_response, 76),
     (read_verification_response, 2)],
)
def test_single_record_answer_shorter_than_its_record_raises_protocol_error(reader: Any, size: int) -> None:
    with pytest.raises(ProtocolError):
        reader(bytes(size - 1))
