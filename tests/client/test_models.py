"""Typed values built from wire records: every field comes from the right record field, in Python types."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from pymt5_core.errors import ProtocolError
from pymt5_core.models import Deal, Order, Position
from pymt5_core.wire.layouts import LAYOUTS
from pymt5_core.wire.records import pack_record

SECONDS = 1_763_467_200  # 2025-11-18 12:00 UTC


def distinct_record(layout: str, **values: Any) -> dict[str, Any]:
    """A decoded record of ``layout`` in which every field holds a value no other field holds."""
    lay = LAYOUTS[layout]
    record: dict[str, Any] = {}
    for i, f in enumerate(lay.spec, start=1):
        if f.name.endswith("_ms"):
            record[f.name] = 100 + i
        elif f.time is not None:
            record[f.name] = SECONDS + i * 60
        elif f.type.name == "STR16":
            record[f.name] = f"{f.name[:10]}{i}"
        elif f.type.name == "F64":
            record[f.name] = i + 0.25
        else:
            record[f.name] = i
    record.update(values)
    return lay.unpack_dict(pack_record(lay, record))


def utc(seconds: int, ms: int) -> datetime:
    return datetime.fromtimestamp(seconds + ms / 1000, UTC)


def as_row(layout: str, record: dict[str, Any]) -> Any:
    """The same record as a row of a decoded structured array (numpy values)."""
    return LAYOUTS[layout].unpack_array(pack_record(LAYOUTS[layout], record))[0]


#: The ways to build a model: from any mapping (converted), and from what the wire layer decodes.
SOURCES = ["dict", "numpy row", "decoded record", "wire bytes"]


def build(model: Any, layout: str, record: dict[str, Any], source: str) -> Any:
    if source == "dict":
        return model.from_wire(record)
    if source == "numpy row":
        return model.from_wire(as_row(layout, record))
    if source == "decoded record":
        return model.from_record(record)
    return model.from_buffer(bytes(7) + pack_record(LAYOUTS[layout], record), 7)


@pytest.mark.parametrize("source", SOURCES)
def test_position_fields_come_from_their_record_fields(source: str) -> None:
    r = distinct_record("Position", trade_volume=25_000_000)
    p = build(Position, "Position", r, source)
    assert dataclasses.asdict(p) == {
        "ticket": r["position_id"], "symbol": r["trade_symbol"], "type": r["trade_action"], "volume": 0.25,
        "price_open": r["price_open"], "sl": r["sl"], "tp": r["tp"], "profit": r["profit"],
        "price_current": r["price_close"], "swap": r["storage"],
        "time": utc(r["time_create"], r["time_create_ms"]),
        "time_msc": r["time_create"] * 1000 + r["time_create_ms"], "magic": r["expert"], "comment": r["comment"],
        "identifier": r["position_id"], "time_update": utc(r["time_update"], r["time_update_ms"]),
        "time_update_msc": r["time_update"] * 1000 + r["time_update_ms"], "commission": r["commission"],
        "reason": r["trade_reason"], "external_id": r["external_id"], "order": r["trade_order"],
        "digits": r["digits"], "contract_size": r["contract_size"], "volume_wire": 25_000_000,
    }
    assert all(type(v) in (int, float, str, datetime) for v in dataclasses.astuple(p))


@pytest.mark.parametrize("source", SOURCES)
def test_order_fields_come_from_their_record_fields(source: str) -> None:
    r = distinct_record("Order", volume_initial=30_000_000, volume_current=10_000_000)
    o = build(Order, "Order", r, source)
    assert dataclasses.asdict(o) == {
        "ticket": r["trade_order"], "symbol": r["trade_symbol"], "type": r["order_type"], "state": r["order_state"],
        "volume_initial": 0.3, "volume_current": 0.1, "price_open": r["price_order"],
        "price_stoplimit": r["price_trigger"], "price_current": r["price_current"], "sl": r["price_sl"],
        "tp": r["price_tp"], "time_setup": utc(r["time_setup"], r["time_setup_ms"]),
        "time_setup_msc": r["time_setup"] * 1000 + r["time_setup_ms"],
        "time_done": utc(r["time_done"], r["time_done_ms"]), "time_done_msc": r["time_done"] * 1000 + r["time_done_ms"],
        "time_expiration": r["time_expiration"], "type_filling": r["type_filling"], "type_time": r["type_time"],
        "reason": r["type_reason"], "magic": r["expert"], "position_id": r["position_id"], "comment": r["comment"],
        "external_id": r["order_id"], "digits": r["digits"], "volume_wire": 30_000_000,
    }
    assert all(type(v) in (int, float, str, datetime) for v in dataclasses.astuple(o))


def test_order_not_done_has_no_done_time_and_equal_times_are_equal() -> None:
    active = Order.from_wire(distinct_record("Order", time_done=0))
    assert active.time_done is None and active.time_done_msc == 0
    filled = Order.from_wire(distinct_record("Order", time_done=SECONDS, time_setup=SECONDS, time_done_ms=5,
                                             time_setup_ms=5))
    assert filled.time_done == filled.time_setup == utc(SECONDS, 5)
    fresh = Position.from_wire(distinct_record("Position", time_update=SECONDS, time_create=SECONDS,
                                               time_update_ms=7, time_create_ms=7))
    assert fresh.time_update == fresh.time == utc(SECONDS, 7)


@pytest.mark.parametrize("source", SOURCES)
def test_deal_fields_come_from_their_record_fields(source: str) -> None:
    r = distinct_record("Deal", trade_volume=1_000_000)
    d = build(Deal, "Deal", r, source)
    assert dataclasses.asdict(d) == {
        "ticket": r["deal"], "order": r["trade_order"], "symbol": r["trade_symbol"], "type": r["trade_action"],
        "entry": r["entry"], "volume": 0.01, "price": r["price_open"], "profit": r["profit"],
        "commission": r["commission"], "swap": r["storage"], "fee": r["commission_fee"], "magic": r["expert"],
        "position_id": r["position_id"], "comment": r["comment"], "time": utc(r["time_create"], r["time_create_ms"]),
        "time_msc": r["time_create"] * 1000 + r["time_create_ms"], "reason": r["trade_reason"],
        "external_id": r["deal_id"],
    }
    assert all(type(v) in (int, float, str, datetime) for v in dataclasses.astuple(d))
    assert not isinstance(d.ticket, np.integer)


@pytest.mark.parametrize("model", [Position, Order, Deal])
def test_a_model_from_wire_bytes_refuses_a_record_that_does_not_fit(model: Any) -> None:
    size = LAYOUTS[model.__name__].size
    with pytest.raises(ProtocolError):
        model.from_buffer(bytes(size - 1))
    with pytest.raises(ProtocolError):
        model.from_buffer(bytes(size), 1)
    with pytest.raises(ProtocolError):
        model.from_buffer(bytes(size), -1)
    assert model.from_buffer(bytes(size + 3), 3) == model.from_wire(LAYOUTS[model.__name__].unpack_dict(bytes(size)))
