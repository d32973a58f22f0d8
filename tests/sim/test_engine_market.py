"""Smoke test of the engine against the real catalogue, price model and clock of the simulator market."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pymt5_core.sim.accounts import default_accounts
from pymt5_core.sim.engine import TradingEngine
from pymt5_core.wire.enums import ExecMode, Retcode
from tests.sim.test_engine_fakes import Mirror

market = pytest.importorskip("pymt5_core.sim.market.model")
catalogue_mod = pytest.importorskip("pymt5_core.sim.market.catalogue")
clock_mod = pytest.importorskip("pymt5_core.sim.market.clock")

WEDNESDAY_10H = int(datetime(2026, 3, 4, 10, 0, tzinfo=UTC).timestamp() * 1000)
_ACTION = {ExecMode.REQUEST: 1, ExecMode.INSTANT: 2, ExecMode.MARKET: 3, ExecMode.EXCHANGE: 4}


def test_every_symbol_trades_and_the_state_replays() -> None:
    catalogue = catalogue_mod.Catalogue.default()
    model = market.PriceModel(catalogue, seed=1)
    clock = clock_mod.VirtualClock.manual(WEDNESDAY_10H)
    engine = TradingEngine(catalogue, model, clock, default_accounts(), seed=1)
    login = 5000001
    mirror = Mirror.snapshot(engine, login)
    done = 0
    for spec in catalogue:
        quote = model.quote_at(spec.name, clock.now_ms())
        if quote is None:
            continue
        action = _ACTION[spec.exec_mode]
        req = {"action_id": 1, "trade_action": action, "trade_symbol": spec.name,
               "trade_volume": round(spec.volume_min * 1e8), "trade_type": 0, "price_order": quote.ask,
               "type_filling": 1 if spec.fill_flags & 2 else 0, "price_deviation": 10}
        sub = engine.submit(login, req)
        mirror.apply(sub.events, login)
        assert sub.retcode in (Retcode.DONE, Retcode.DONE_PARTIAL, Retcode.REQUOTE, Retcode.MARKET_CLOSED,
                               Retcode.REJECT, Retcode.NO_MONEY), (spec.name, sub)
        done += Retcode.is_done(sub.retcode)
    assert done >= len(catalogue) // 2
    assert engine.margin(login) > 0
    clock.advance(3_600_000)
    mirror.apply(engine.on_quotes(clock.now_ms()), login)
    mirror.assert_matches(engine, login)
    body = engine.account_body(login)
    assert body.symbols_count == len(catalogue) and body.main["server_name"]
