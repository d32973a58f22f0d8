"""The simulated trade server: requests in, push 10 / 19 / 14 frames out, in the SPEC §8.8 order.

Everything is synchronous and deterministic: time comes from the clock (requests) or from the caller
(:meth:`TradingEngine.on_quotes`), prices from the quote source, randomness from a seeded generator.

Conventions of this simulator (the SPEC leaves them open):

* Tickets: orders count up from 50 000 001 and deals from 40 000 001; a position takes the ticket of the
  order that opened it (netting reversals keep the position ticket).
* Validation failures answer command 12 at once with the return code (no push 19); requotes, liquidity
  failures and :meth:`TradingEngine.force_next` answer with status 0 and a push 19 carrying the code.
* Market orders fill the whole volume at bid/ask; exchange orders (action 4) fill level by level
  against the symbol's depth of market, one deal per level.
* Pending orders need no margin; the margin check happens when they trigger (no money -> REJECTED).
  Limit orders fill at their price, stop orders and SL/TP at the market.
* Swap (points mode) is charged at 00:00 UTC after Monday..Friday, three times after Wednesday.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pymt5_core.sim.accounts import AccountConfig
from pymt5_core.sim.engine import rules
from pymt5_core.sim.engine.events import AccountEvent, EngineEvent, Submission, TradeResultEvent
from pymt5_core.sim.engine.models import LOT, Ledger, Order, Position, Reason, blank, split_ms
from pymt5_core.sim.engine.money import NoQuote, Pricer, current_price, hedge_ratio
from pymt5_core.sim.engine.ports import Clock, QuoteSource, SymbolCatalogue, SymbolSpec
from pymt5_core.sim.engine.records import currency_digits, order_record, position_record, trade_result
from pymt5_core.sim.engine.rules import Rejection
from pymt5_core.sim.engine.schedule import end_of_day_s, is_open, rollovers_between
from pymt5_core.wire.codec import normalize
from pymt5_core.wire.enums import (
    AccountType,
    DealEntry,
    DealType,
    ExecMode,
    OrderFilling,
    OrderState,
    OrderTime,
    OrderType,
    Retcode,
    TradeAction,
    TradeMode,
)
from pymt5_core.wire.messages.account import NEUTRAL_TRADE_SETTINGS, AccountBody
from pymt5_core.wire.messages.trading import DealUpdate, OrderUpdate
from pymt5_core.wire.records import Record

__all__ = ["TradingEngine"]

_ADD, _UPDATE, _DELETE = 0, 1, 2
_ACTIVE, _HISTORY = 0, 1
_EXEC_MODES = {TradeAction.PRICE: (ExecMode.REQUEST, ExecMode.INSTANT),
               TradeAction.REQUEST: (ExecMode.REQUEST, ExecMode.INSTANT),
               TradeAction.INSTANT: (ExecMode.INSTANT,), TradeAction.MARKET: (ExecMode.MARKET,),
               TradeAction.EXCHANGE: (ExecMode.EXCHANGE,)}


@dataclass(frozen=True, slots=True)
class _Request:
    """The TradeRequest fields the engine uses, with 0 for absent ones."""

    action: int
    symbol: str
    volume: int
    order: int
    type: int
    filling: int
    type_time: int
    price: float
    trigger: float
    sl: float
    tp: float
    deviation: int
    comment: str
    position: int
    position_by: int
    expiration: int

    @classmethod
    def parse(cls, r: Record) -> _Request:
        return cls(int(r.get("trade_action", 0)), str(r.get("trade_symbol", "")), int(r.get("trade_volume", 0)),
                   int(r.get("trade_order", 0)), int(r.get("trade_type", 0)), int(r.get("type_filling", 0)),
                   int(r.get("type_time", 0)), float(r.get("price_order", 0.0)), float(r.get("price_trigger", 0.0)),
                   float(r.get("price_sl", 0.0)), float(r.get("price_tp", 0.0)), int(r.get("price_deviation", 0)),
                   str(r.get("comment", ""))[:32], int(r.get("trade_position", 0)), int(r.get("position_by", 0)),
                   _expiration(r.get("time_expiration", 0)))


def _expiration(value: object) -> int:
    if isinstance(value, (bytes, bytearray)):
        return int.from_bytes(bytes(value)[:4].ljust(4, b"\0"), "little")
    return int(value) if isinstance(value, (int, float)) else 0


class TradingEngine:
    """Accounts, positions, orders and deals of the simulated server.

    Args:
        catalogue: symbol lookup (needs ``get(name)`` and ``len()``).
        quotes: prices by symbol and time, and depth of market for exchange execution.
        clock: time of trade requests.
        accounts: the accounts the server knows.
        seed: seed of the requote draws.
        always_open: ignore trade sessions (every symbol is always tradable).
        server_build: ``server_build`` of the account body.
        timezone_shift: server time minus UTC in seconds (sessions, day ends and rollovers use server time);
            None takes the catalogue's ``timezone_shift`` attribute, or 0.
    """

    def __init__(self, catalogue: SymbolCatalogue, quotes: QuoteSource, clock: Clock,
                 accounts: Iterable[AccountConfig], *, seed: int = 0, always_open: bool = False,
                 server_build: int = 5687, timezone_shift: int | None = None) -> None:
        self._catalogue = catalogue
        self._quotes = quotes
        self._clock = clock
        self._pricer = Pricer(catalogue, quotes)
        self._rng = random.Random(seed)
        self._always_open = always_open
        self._server_build = server_build
        self._shift = int(getattr(catalogue, "timezone_shift", 0)) if timezone_shift is None else timezone_shift
        self._configs: dict[int, AccountConfig] = {}
        self._ledgers: dict[int, Ledger] = {}
        self._next_order = 50_000_001
        self._next_deal = 40_000_001
        self._forced: int | None = None
        self._requotes: set[str] = set()
        self._last_quotes_ms = clock.now_ms()
        self._handlers: dict[int, Callable[[int, Ledger, _Request, Record], Submission]] = {
            TradeAction.PRICE: self._price_request, TradeAction.REQUEST: self._market,
            TradeAction.INSTANT: self._market, TradeAction.MARKET: self._market, TradeAction.EXCHANGE: self._market,
            TradeAction.PENDING: self._place, TradeAction.SLTP: self._modify_position,
            TradeAction.MODIFY: self._modify_order, TradeAction.REMOVE: self._remove,
            TradeAction.CLOSE_BY: self._close_by,
        }
        self._pricer.now_ms = self._last_quotes_ms
        for config in accounts:
            self._add_account(config)

    # --- accounts ------------------------------------------------------------------------------------

    def _add_account(self, config: AccountConfig) -> None:
        if config.login in self._configs:
            raise ValueError(f"duplicate login {config.login}")
        self._configs[config.login] = config
        ledger = Ledger(balance=0.0, leverage=config.leverage)
        self._ledgers[config.login] = ledger
        if config.balance:
            self._balance_deal(config.login, config.balance, "Initial deposit")

    def account(self, login: int) -> AccountConfig | None:
        """The configuration of ``login``, or None for an unknown login."""
        return self._configs.get(login)

    def logins(self) -> list[int]:
        """Every known login."""
        return list(self._configs)

    def open_demo_account(self, name: str, *, currency: str = "USD", leverage: int = 100, balance: float = 10_000.0,
                          hedging: bool = True, password: str | None = None) -> AccountConfig:
        """Create a demo account with the next free login (command 30); the password is generated when None."""
        login = max(self._configs, default=5_000_000) + 1
        secret = password or f"Dm{login % 100_000:05d}{self._rng.randrange(10**6):06d}!"
        config = AccountConfig(login, secret, f"Iv{self._rng.randrange(10**8):08d}!", name, currency, leverage,
                               2 if hedging else 0, balance)
        self._add_account(config)
        return config

    def deposit(self, login: int, amount: float, comment: str = "Deposit") -> list[EngineEvent]:
        """Add a balance deal (type 2; negative = withdrawal): its push 10 and a push 14."""
        deal = self._balance_deal(login, amount, comment)
        ledger = self._ledgers[login]
        update = DealUpdate(_ADD, deal, blank("Position"), ledger.balance, ledger.credit)
        return [(login, update), (login, AccountEvent(login))]

    def set_leverage(self, login: int, leverage: int) -> list[EngineEvent]:
        """Change the leverage of ``login`` (push 14)."""
        self._ledgers[login].leverage = leverage
        return [(login, AccountEvent(login))]

    def _balance_deal(self, login: int, amount: float, comment: str) -> Record:
        ledger = self._ledgers[login]
        digits = currency_digits(self._configs[login].currency)
        ledger.balance = normalize(ledger.balance + amount, digits)
        deal = blank("Deal")
        now_s, now_ms = split_ms(self._clock.now_ms())
        deal.update(deal=self._deal_ticket(), time_create=now_s, time_update=now_s, time_create_ms=now_ms,
                    time_update_ms=now_ms, trade_action=DealType.BALANCE, profit=normalize(amount, digits),
                    comment=comment[:32], digits_currency=digits)
        ledger.deals.append(deal)
        return deal

    # --- fault hooks ---------------------------------------------------------------------------------

    def force_next(self, retcode: int) -> None:
        """Reject the next trade request (of any account) with ``retcode`` in its push 19."""
        self._forced = retcode

    def force_requote(self, symbol: str) -> None:
        """Requote the next instant/request execution on ``symbol``."""
        self._requotes.add(symbol)

    # --- read views ----------------------------------------------------------------------------------

    def positions(self, login: int) -> list[Record]:
        """Open positions with their current ``price_close`` and ``profit``."""
        ledger = self._ledgers[login]
        return [self._position_record(login, p) for p in sorted(ledger.positions.values(), key=lambda p: p.ticket)]

    def orders(self, login: int) -> list[Record]:
        """Active orders."""
        ledger = self._ledgers[login]
        return [self._order_record(login, o) for o in sorted(ledger.orders.values(), key=lambda o: o.ticket)]

    def history(self, login: int, from_s: int = 0, to_s: int = 0) -> tuple[list[Record], list[Record]]:
        """``(deals, orders)`` of the history: deals by creation time, orders by completion time.

        ``to_s`` 0 means now.
        """
        ledger = self._ledgers[login]
        hi = to_s or 2**32
        deals = [d for d in ledger.deals if from_s <= d["time_create"] <= hi]
        orders = [o for o in ledger.history_orders.values() if from_s <= o["time_done"] <= hi]
        return deals, orders

    def equity(self, login: int) -> float:
        """Balance + credit + floating profit and swap, in the account currency."""
        ledger = self._ledgers[login]
        floating = sum(self._valuation(login, p)[1] + p.storage for p in ledger.positions.values())
        return ledger.balance + ledger.credit + floating

    def margin(self, login: int) -> float:
        """Margin of the open positions in the account currency (hedged volume at the hedged rate)."""
        try:
            return self._margin(login)
        except NoQuote:
            return 0.0

    def free_margin(self, login: int) -> float:
        """Equity minus margin."""
        return self.equity(login) - self.margin(login)

    def margin_level(self, login: int) -> float:
        """Equity / margin in percent; 0 without margin."""
        used = self.margin(login)
        return self.equity(login) / used * 100 if used > 0 else 0.0

    def account_body(self, login: int) -> AccountBody:
        """The command 3 / push 14 body of ``login``."""
        config, ledger = self._configs[login], self._ledgers[login]
        main = blank("AccountMain")
        main.update(
            account_type=AccountType.DEMO, balance=ledger.balance, credit=ledger.credit,
            account_currency=config.currency, currency_digits=currency_digits(config.currency),
            margin_leverage=ledger.leverage, account_name=config.name, server_build=self._server_build,
            server_name=config.server_name, company=config.company, margin_mode=config.margin_mode,
            margin_free_mode=1, margin_so_call=config.margin_so_call, margin_so_so=config.margin_so_so,
            auth_password_min=8, otp_status=1 if config.otp else 0,
        )
        return AccountBody(main=main, trade_settings=[dict(NEUTRAL_TRADE_SETTINGS)],
                           symbols_count=len(self._catalogue))

    # --- trade requests ------------------------------------------------------------------------------

    def submit(self, login: int, request: Record) -> Submission:
        """Process a TradeRequest (command 12) of ``login``; see the module notes for the answer forms."""
        ledger = self._ledgers.get(login)
        if ledger is None:
            return Submission(Retcode.INVALID)
        with self._pricer.frozen(self._clock.now_ms()):
            return self._submit(login, ledger, request)

    def _submit(self, login: int, ledger: Ledger, request: Record) -> Submission:
        req = _Request.parse(request)
        if self._forced is not None:
            code, self._forced = self._forced, None
            return self._answer(login, request, trade_result(code, self._now_s, comment=Retcode.describe(code)))
        handler = self._handlers.get(req.action)
        if handler is None:
            return Submission(Retcode.INVALID)
        try:
            return handler(login, ledger, req, request)
        except Rejection as r:
            return Submission(r.retcode)
        except NoQuote:
            return Submission(Retcode.PRICE_OFF)

    def _answer(self, login: int, request: Record, result: Record,
                events: list[EngineEvent] | None = None) -> Submission:
        return Submission(0, [*(events or []), (login, TradeResultEvent(dict(request), result))])

    def _price_request(self, login: int, ledger: Ledger, req: _Request, raw: Record) -> Submission:
        spec = self._tradable(req.symbol, TradeAction.PRICE)
        q = self._pricer.quote(spec.name)
        return self._answer(login, raw, trade_result(Retcode.PRICES, self._now_s, bid=q.bid, ask=q.ask, last=q.last))

    def _market(self, login: int, ledger: Ledger, req: _Request, raw: Record) -> Submission:
        spec = self._tradable(req.symbol, req.action)
        if req.type not in (OrderType.BUY, OrderType.SELL):
            raise Rejection(Retcode.INVALID_ORDER)
        buy = req.type == OrderType.BUY
        target = self._close_target(login, ledger, req, spec, buy)
        closing = target is not None and target.volume >= req.volume
        rules.check_volume(spec, req.volume, closing=closing)
        if not closing:
            rules.check_order_type(spec, req.type, req.sl, req.tp)
            rules.check_direction(spec, buy)
        if req.action in (TradeAction.MARKET, TradeAction.EXCHANGE):
            rules.check_filling(spec, req.filling, market=True)
        q = self._pricer.quote(spec.name)
        if not closing and (req.sl or req.tp):
            rules.check_stops(spec, buy, q.bid if buy else q.ask, req.sl, req.tp)
        price = current_price(spec, q, buy)
        if req.action in (TradeAction.REQUEST, TradeAction.INSTANT):
            if req.price <= 0:
                raise Rejection(Retcode.INVALID_PRICE)
            if self._requoted(spec, req, price):
                return self._answer(login, raw, trade_result(Retcode.REQUOTE, self._now_s, bid=q.bid, ask=q.ask,
                                                             last=q.last, comment="requote"))
        if req.action == TradeAction.EXCHANGE:
            fills = self._book_fills(spec, buy, req.volume)
            available = sum(v for _, v in fills)
            if not available or (req.filling == OrderFilling.FOK and available < req.volume):
                return self._answer(login, raw, trade_result(Retcode.REJECT, self._now_s, bid=q.bid, ask=q.ask,
                                                             last=q.last, comment="not enough liquidity"))
        else:
            fills = [(price, req.volume)]
        if not closing:
            self._check_margin(login, spec, buy, req.volume)
        order = Order(self._order_ticket(), spec.name, req.type, req.volume, req.price, self._now_ms,
                      filling=req.filling, sl=req.sl, tp=req.tp, position_id=target.ticket if req.position and target
                      else 0, comment=req.comment)
        keep = req.action == TradeAction.EXCHANGE and req.filling == OrderFilling.RETURN
        events, deals = self._execute(login, order, fills, announce=True, keep_rest=keep)
        filled = sum(int(d["trade_volume"]) for d in deals)
        average = sum(float(d["price_open"]) * int(d["trade_volume"]) for d in deals) / filled
        code = Retcode.DONE if filled == req.volume else Retcode.DONE_PARTIAL
        result = trade_result(code, self._now_s, deal=int(deals[-1]["deal"]), order=order.ticket, volume=filled,
                              price=average, bid=q.bid, ask=q.ask, last=q.last)
        return self._answer(login, raw, result, events)

    def _close_target(self, login: int, ledger: Ledger, req: _Request, spec: SymbolSpec, buy: bool) -> Position | None:
        """The position a market request reduces: the given ticket, or on netting the symbol's position."""
        if req.position:
            pos = self._position(ledger, req.position)
            if pos.symbol != spec.name or pos.is_buy == buy:
                raise Rejection(Retcode.INVALID, "position symbol or direction mismatch")
            if req.volume > pos.volume:
                raise Rejection(Retcode.INVALID_VOLUME, "volume exceeds the position")
            return pos
        if self._configs[login].is_hedging:
            return None
        netted = next((p for p in ledger.positions.values() if p.symbol == spec.name), None)
        return netted if netted is not None and netted.is_buy != buy else None

    def _requoted(self, spec: SymbolSpec, req: _Request, price: float) -> bool:
        if spec.name in self._requotes:
            self._requotes.discard(spec.name)
            return True
        if spec.requote_probability > 0 and self._rng.random() < spec.requote_probability:
            return True
        return rules.points(abs(req.price - price), spec.point) > req.deviation

    def _book_fills(self, spec: SymbolSpec, buy: bool, volume: int) -> list[tuple[float, int]]:
        """Fills of ``volume`` against the opposite side of the book, best price first."""
        bids, asks = self._quotes.book(spec.name, self._now_ms, max(spec.book_depth, 1))
        levels = sorted(asks if buy else bids, key=lambda lv: lv[0], reverse=not buy)
        fills: list[tuple[float, int]] = []
        for price, lots in levels:
            take = min(volume, round(lots * LOT))
            if take > 0:
                fills.append((price, take))
                volume -= take
            if not volume:
                break
        return fills

    def _place(self, login: int, ledger: Ledger, req: _Request, raw: Record) -> Submission:
        spec = self._tradable(req.symbol, req.action)
        if not 2 <= req.type <= 7:
            raise Rejection(Retcode.INVALID_ORDER)
        buy = OrderType(req.type).is_buy
        rules.check_order_type(spec, req.type, req.sl, req.tp)
        rules.check_direction(spec, buy)
        rules.check_volume(spec, req.volume)
        rules.check_filling(spec, req.filling, market=False)
        rules.check_expiration(spec, req.type_time, req.expiration, self._now_ms, self._shift)
        q = self._pricer.quote(spec.name)
        rules.check_pending_price(spec, req.type, req.price, req.trigger, q)
        stop_limit = req.type in (OrderType.BUY_STOP_LIMIT, OrderType.SELL_STOP_LIMIT)
        rules.check_stops(spec, buy, req.trigger if stop_limit else req.price, req.sl, req.tp)
        order = Order(self._order_ticket(), spec.name, req.type, req.volume, req.price, self._now_ms,
                      filling=req.filling, type_time=req.type_time, expiration_s=_kept_expiration(req),
                      price_trigger=req.trigger if stop_limit else 0.0, sl=req.sl, tp=req.tp,
                      state=OrderState.PLACED, comment=req.comment)
        ledger.orders[order.ticket] = order
        events: list[EngineEvent] = [(login, [OrderUpdate(_ACTIVE, _ADD, self._order_record(login, order))])]
        result = trade_result(Retcode.DONE, self._now_s, order=order.ticket, volume=order.volume_initial,
                              price=order.price_order, bid=q.bid, ask=q.ask, last=q.last)
        return self._answer(login, raw, result, events)

    def _modify_order(self, login: int, ledger: Ledger, req: _Request, raw: Record) -> Submission:
        order = self._pending(ledger, req.order)
        spec = self._tradable(order.symbol, req.action)
        q = self._pricer.quote(spec.name)
        stop_limit = order.type in (OrderType.BUY_STOP_LIMIT, OrderType.SELL_STOP_LIMIT)
        trigger = req.trigger if stop_limit else 0.0
        expiration = _kept_expiration(req)
        if (req.price, trigger, req.sl, req.tp, req.type_time, expiration) == (
                order.price_order, order.price_trigger, order.sl, order.tp, order.type_time, order.expiration_s):
            raise Rejection(Retcode.NO_CHANGES)
        self._check_frozen(spec, order, q.ask if order.is_buy else q.bid)
        rules.check_order_type(spec, order.type, req.sl, req.tp)
        rules.check_expiration(spec, req.type_time, req.expiration, self._now_ms, self._shift)
        rules.check_pending_price(spec, order.type, req.price, trigger, q)
        rules.check_stops(spec, order.is_buy, trigger if stop_limit else req.price, req.sl, req.tp)
        order.price_order, order.price_trigger, order.sl, order.tp = req.price, trigger, req.sl, req.tp
        order.type_time, order.expiration_s = req.type_time, expiration
        events: list[EngineEvent] = [(login, [OrderUpdate(_ACTIVE, _UPDATE, self._order_record(login, order))])]
        result = trade_result(Retcode.DONE, self._now_s, order=order.ticket, volume=order.volume_current,
                              price=order.price_order, bid=q.bid, ask=q.ask, last=q.last)
        return self._answer(login, raw, result, events)

    def _remove(self, login: int, ledger: Ledger, req: _Request, raw: Record) -> Submission:
        order = self._pending(ledger, req.order)
        spec = self._symbol(order.symbol)
        self._check_session(spec)
        q = self._pricer.quote(spec.name)
        self._check_frozen(spec, order, q.ask if order.is_buy else q.bid)
        events: list[EngineEvent] = [(login, self._finish(login, order, OrderState.CANCELED))]
        result = trade_result(Retcode.DONE, self._now_s, order=order.ticket, volume=order.volume_current,
                              price=order.price_order, bid=q.bid, ask=q.ask, last=q.last)
        return self._answer(login, raw, result, events)

    def _modify_position(self, login: int, ledger: Ledger, req: _Request, raw: Record) -> Submission:
        pos = self._position(ledger, req.position)
        spec = self._tradable(pos.symbol, req.action)
        if (req.sl, req.tp) == (pos.sl, pos.tp):
            raise Rejection(Retcode.NO_CHANGES)
        rules.check_stop_flags(spec, req.sl, req.tp)
        q = self._pricer.quote(spec.name)
        market = q.bid if pos.is_buy else q.ask
        if spec.freeze_level and any(lv and rules.points(abs(market - lv), spec.point) <= spec.freeze_level
                                     for lv in (pos.sl, pos.tp)):
            raise Rejection(Retcode.FROZEN)
        rules.check_stops(spec, pos.is_buy, market, req.sl, req.tp)
        pos.sl, pos.tp, pos.time_update_ms = req.sl, req.tp, self._now_ms
        update = DealUpdate(_UPDATE, blank("Deal"), self._position_record(login, pos), ledger.balance, ledger.credit)
        result = trade_result(Retcode.DONE, self._now_s, volume=pos.volume, price=market, bid=q.bid, ask=q.ask,
                              last=q.last)
        return self._answer(login, raw, result, [(login, update)])

    def _close_by(self, login: int, ledger: Ledger, req: _Request, raw: Record) -> Submission:
        if not self._configs[login].is_hedging:
            raise Rejection(Retcode.INVALID_ORDER, "close by needs a hedging account")
        pos, by = self._position(ledger, req.position), self._position(ledger, req.position_by)
        if pos.symbol != by.symbol or pos.type == by.type:
            raise Rejection(Retcode.INVALID, "positions are not opposite positions of one symbol")
        spec = self._tradable(pos.symbol, req.action)
        rules.check_order_type(spec, OrderType.CLOSE_BY)
        q = self._pricer.quote(spec.name)
        volume = min(pos.volume, by.volume)
        order = Order(self._order_ticket(), spec.name, OrderType.CLOSE_BY, volume, 0.0, self._now_ms,
                      position_id=pos.ticket, comment=req.comment)
        order.state = OrderState.PLACED
        ledger.orders[order.ticket] = order
        events: list[EngineEvent] = [(login, [OrderUpdate(_ACTIVE, _ADD, self._order_record(login, order))])]
        # Both legs close at the opposite position's open price: the first leg carries the whole profit.
        first = self._fill(login, order, by.price_open, volume, target=pos, buy=not pos.is_buy, by=True)
        second = self._fill(login, order, by.price_open, volume, target=by, buy=not by.is_buy, by=True)
        events.append((login, [first, second]))
        order.volume_current = 0
        events.append((login, self._finish(login, order, OrderState.FILLED)))
        result = trade_result(Retcode.DONE, self._now_s, deal=int(first.deal["deal"]), order=order.ticket,
                              volume=volume, price=by.price_open, bid=q.bid, ask=q.ask, last=q.last)
        return self._answer(login, raw, result, events)

    # --- execution -----------------------------------------------------------------------------------

    def _execute(self, login: int, order: Order, fills: list[tuple[float, int]], *, announce: bool,
                 keep_rest: bool = False) -> tuple[list[EngineEvent], list[Record]]:
        """Fill ``order`` and emit order add (``announce``) -> deals -> order done (or update if kept)."""
        ledger = self._ledgers[login]
        events: list[EngineEvent] = []
        if announce:
            order.state = OrderState.PLACED
            ledger.orders[order.ticket] = order
            events.append((login, [OrderUpdate(_ACTIVE, _ADD, self._order_record(login, order))]))
        updates = [self._fill(login, order, price, volume) for price, volume in fills]
        if updates:
            events.append((login, updates))
        order.volume_current -= sum(v for _, v in fills)
        if order.volume_current and keep_rest:
            order.state = OrderState.PARTIAL
            events.append((login, [OrderUpdate(_ACTIVE, _UPDATE, self._order_record(login, order))]))
        else:
            done = OrderState.FILLED if not order.volume_current else OrderState.PARTIAL
            events.append((login, self._finish(login, order, done)))
        return events, [u.deal for u in updates]

    def _fill(self, login: int, order: Order, price: float, volume: int, *, target: Position | None = None,
              buy: bool | None = None, by: bool = False) -> DealUpdate:
        """Book one deal of ``order``: open, add to, reduce, close or reverse a position."""
        config, ledger = self._configs[login], self._ledgers[login]
        spec = self._symbol(order.symbol)
        digits = currency_digits(config.currency)
        buy = order.is_buy if buy is None else buy
        if target is None:
            if order.position_id:
                target = ledger.positions[order.position_id]
            elif config.is_hedging:
                target = ledger.positions.get(order.ticket)
            else:
                target = next((p for p in ledger.positions.values() if p.symbol == order.symbol), None)
        profit = swap = rate = 0.0
        entry = DealEntry.IN
        if target is None:
            target = Position(order.ticket, order.symbol, 0 if buy else 1, volume, price, self._now_ms, self._now_ms,
                              order.ticket, order.reason, order.sl, order.tp, comment=order.comment)
            ledger.positions[target.ticket] = target
        elif target.is_buy == buy:
            total = target.volume + volume
            target.price_open = (target.price_open * target.volume + price * volume) / total
            target.volume = total
            if order.sl or order.tp:
                target.sl, target.tp = order.sl, order.tp
        else:
            closed = min(volume, target.volume)
            raw_profit, rate = self._pricer.profit(spec, target.is_buy, closed / LOT, target.price_open, price,
                                                   config.currency)
            profit = normalize(raw_profit, digits)
            swap = normalize(target.storage * closed / target.volume, digits)
            target.storage -= swap
            target.volume -= closed
            ledger.balance = normalize(ledger.balance + profit + swap, digits)
            rest = volume - closed
            entry = DealEntry.OUT_BY if by else DealEntry.INOUT if rest else DealEntry.OUT
            if rest:
                target.type, target.volume, target.price_open = (0 if buy else 1), rest, price
                target.sl, target.tp = order.sl, order.tp
        target.time_update_ms = self._now_ms
        if target.volume == 0:
            del ledger.positions[target.ticket]
            ledger.closed_positions.add(target.ticket)
        deal = blank("Deal")
        now_s, now_ms = split_ms(self._now_ms)
        deal.update(
            deal=self._deal_ticket(), trade_order=order.ticket, time_create=now_s, time_update=now_s,
            trade_symbol=order.symbol, trade_action=DealType.BUY if buy else DealType.SELL, entry=entry,
            price_open=price, sl=target.sl, tp=target.tp, trade_volume=volume, profit=profit, rate_profit=rate,
            storage=swap, position_id=target.ticket, comment=order.comment, contract_size=spec.contract_size,
            digits=spec.digits, digits_currency=digits, trade_reason=order.reason, time_create_ms=now_ms,
            time_update_ms=now_ms,
        )
        ledger.deals.append(deal)
        return DealUpdate(_ADD, deal, self._position_record(login, target), ledger.balance, ledger.credit)

    def _finish(self, login: int, order: Order, state: int) -> list[OrderUpdate]:
        """Move ``order`` to the history in ``state``: delete from the active list, add to the history."""
        ledger = self._ledgers[login]
        order.state, order.time_done_ms = state, self._now_ms
        ledger.orders.pop(order.ticket, None)
        rec = self._order_record(login, order)
        ledger.history_orders[order.ticket] = rec
        return [OrderUpdate(_ACTIVE, _DELETE, rec), OrderUpdate(_HISTORY, _ADD, dict(rec))]

    # --- time passing --------------------------------------------------------------------------------

    def on_quotes(self, time_ms: int) -> list[EngineEvent]:
        """Advance to ``time_ms``: swaps, expirations, pending activations, SL/TP and stop-out, in that order."""
        with self._pricer.frozen(time_ms):
            return self._on_quotes(time_ms)

    def _on_quotes(self, time_ms: int) -> list[EngineEvent]:
        events = self._rollover(self._last_quotes_ms, time_ms)
        self._last_quotes_ms = max(self._last_quotes_ms, time_ms)
        for login in self._ledgers:
            events += self._expire(login)
            events += self._activate(login)
            events += self._trigger_stops(login)
            events += self._stop_out(login)
        return events

    def _rollover(self, start_ms: int, end_ms: int) -> list[EngineEvent]:
        events: list[EngineEvent] = []
        charges = rollovers_between(start_ms, end_ms, self._shift)
        if not charges:
            return events
        days = sum(n for _, n in charges)
        for login, ledger in self._ledgers.items():
            currency = self._configs[login].currency
            updates = []
            for pos in sorted(ledger.positions.values(), key=lambda p: p.ticket):
                spec = self._symbol(pos.symbol)
                points = spec.swap_long if pos.is_buy else spec.swap_short
                if not points:
                    continue
                try:
                    rate = self._pricer.rate(spec.currency_profit, currency)
                except NoQuote:
                    continue
                swap = points * spec.point * spec.contract_size * pos.volume / LOT * days * rate
                pos.storage = normalize(pos.storage + swap, currency_digits(currency))
                pos.time_update_ms = end_ms
                updates.append(DealUpdate(_UPDATE, blank("Deal"), self._position_record(login, pos),
                                          ledger.balance, ledger.credit))
            if updates:
                events.append((login, updates))
        return events

    def _expire(self, login: int) -> list[EngineEvent]:
        now_s = self._now_s
        expired = [o for o in self._sorted_orders(login) if 2 <= o.type <= 7 and _deadline(o, self._shift) <= now_s]
        return [(login, self._finish(login, o, OrderState.EXPIRED)) for o in expired]

    def _activate(self, login: int) -> list[EngineEvent]:
        events: list[EngineEvent] = []
        for order in self._sorted_orders(login):
            spec = self._catalogue.get(order.symbol)
            if spec is None or not self._open(spec):
                continue
            try:
                q = self._pricer.quote(order.symbol)
            except NoQuote:
                continue
            if order.type in (OrderType.BUY, OrderType.SELL):
                fills = self._book_fills(spec, order.is_buy, order.volume_current)
                if fills:
                    events += self._execute(login, order, fills, announce=False, keep_rest=True)[0]
                continue
            market = q.ask if order.is_buy else q.bid
            if order.type in (OrderType.BUY_STOP_LIMIT, OrderType.SELL_STOP_LIMIT):
                if (market >= order.price_order) if order.is_buy else (market <= order.price_order):
                    order.type = OrderType.BUY_LIMIT if order.is_buy else OrderType.SELL_LIMIT
                    order.price_order, order.price_trigger = order.price_trigger, 0.0
                    events.append((login, [OrderUpdate(_ACTIVE, _UPDATE, self._order_record(login, order))]))
                else:
                    continue
            limit = order.type in (OrderType.BUY_LIMIT, OrderType.SELL_LIMIT)
            above = (order.type == OrderType.BUY_STOP) or (order.type == OrderType.SELL_LIMIT)
            if not ((market >= order.price_order) if above else (market <= order.price_order)):
                continue
            try:
                self._check_margin(login, spec, order.is_buy, order.volume_current)
            except Rejection:
                events.append((login, self._finish(login, order, OrderState.REJECTED)))
                continue
            price = order.price_order if limit else market
            events += self._execute(login, order, [(price, order.volume_current)], announce=False)[0]
        return events

    def _trigger_stops(self, login: int) -> list[EngineEvent]:
        events: list[EngineEvent] = []
        for pos in sorted(self._ledgers[login].positions.values(), key=lambda p: p.ticket):
            spec = self._catalogue.get(pos.symbol)
            if spec is None or not (pos.sl or pos.tp) or not self._open(spec):
                continue
            try:
                q = self._pricer.quote(pos.symbol)
            except NoQuote:
                continue
            market = current_price(spec, q, pos.is_buy, closing=True)
            sign = 1 if pos.is_buy else -1
            if pos.sl and sign * (market - pos.sl) <= 0:
                events += self._close_position(login, pos, market, Reason.SL, f"[sl {pos.sl:.{spec.digits}f}]")
            elif pos.tp and sign * (market - pos.tp) >= 0:
                events += self._close_position(login, pos, market, Reason.TP, f"[tp {pos.tp:.{spec.digits}f}]")
        return events

    def _stop_out(self, login: int) -> list[EngineEvent]:
        events: list[EngineEvent] = []
        config, ledger = self._configs[login], self._ledgers[login]
        while ledger.positions:
            used = self.margin(login)
            level = self.equity(login) / used * 100 if used > 0 else 0.0
            if used <= 0 or level > config.margin_so_so:
                break
            worst = min(ledger.positions.values(), key=lambda p: (self._valuation(login, p)[1], p.ticket))
            spec = self._symbol(worst.symbol)
            try:
                market = current_price(spec, self._pricer.quote(worst.symbol), worst.is_buy, closing=True)
            except NoQuote:
                break
            events += self._close_position(login, worst, market, Reason.SO, f"[so {level:.2f}%]")
        return events

    def _close_position(self, login: int, pos: Position, price: float, reason: int, comment: str) -> list[EngineEvent]:
        order = Order(self._order_ticket(), pos.symbol, OrderType.SELL if pos.is_buy else OrderType.BUY, pos.volume,
                      price, self._now_ms, position_id=pos.ticket, reason=reason, comment=comment)
        return self._execute(login, order, [(price, pos.volume)], announce=True)[0]

    # --- helpers -------------------------------------------------------------------------------------

    @property
    def _now_ms(self) -> int:
        return self._pricer.now_ms

    @property
    def _now_s(self) -> int:
        return self._pricer.now_ms // 1000

    def _order_ticket(self) -> int:
        self._next_order += 1
        return self._next_order - 1

    def _deal_ticket(self) -> int:
        self._next_deal += 1
        return self._next_deal - 1

    def _symbol(self, name: str) -> SymbolSpec:
        spec = self._catalogue.get(name)
        if spec is None:
            raise Rejection(Retcode.INVALID, f"unknown symbol {name!r}")
        return spec

    def _open(self, spec: SymbolSpec) -> bool:
        return self._always_open or is_open(spec.trade_sessions, self._now_ms, self._shift)

    def _check_session(self, spec: SymbolSpec) -> None:
        if not self._open(spec):
            raise Rejection(Retcode.MARKET_CLOSED)

    def _tradable(self, name: str, action: int) -> SymbolSpec:
        """The symbol, if it exists, is not disabled, matches the execution mode and is in session."""
        spec = self._symbol(name)
        if spec.trade_mode == TradeMode.DISABLED:
            raise Rejection(Retcode.TRADE_DISABLED)
        if action in _EXEC_MODES and spec.exec_mode not in _EXEC_MODES[TradeAction(action)]:
            raise Rejection(Retcode.INVALID, "action does not match the execution mode")
        self._check_session(spec)
        return spec

    def _position(self, ledger: Ledger, ticket: int) -> Position:
        pos = ledger.positions.get(ticket)
        if pos is None:
            raise Rejection(Retcode.POSITION_CLOSED if ticket in ledger.closed_positions else Retcode.INVALID)
        return pos

    def _pending(self, ledger: Ledger, ticket: int) -> Order:
        order = ledger.orders.get(ticket)
        if order is None or not 2 <= order.type <= 7 or order.state not in (OrderState.PLACED, OrderState.PARTIAL):
            raise Rejection(Retcode.INVALID, "no such pending order")
        return order

    def _check_frozen(self, spec: SymbolSpec, order: Order, market: float) -> None:
        if spec.freeze_level and rules.points(abs(market - order.price_order), spec.point) <= spec.freeze_level:
            raise Rejection(Retcode.FROZEN)

    def _sorted_orders(self, login: int) -> list[Order]:
        return sorted(self._ledgers[login].orders.values(), key=lambda o: o.ticket)

    def _valuation(self, login: int, pos: Position) -> tuple[float, float, float]:
        """``(price_close, profit, rate_profit)`` of ``pos`` now; zeros without quotes."""
        spec = self._catalogue.get(pos.symbol)
        if spec is None:
            return 0.0, 0.0, 0.0
        try:
            price = current_price(spec, self._pricer.quote(pos.symbol), pos.is_buy, closing=True)
            profit, rate = self._pricer.profit(spec, pos.is_buy, pos.volume / LOT, pos.price_open, price,
                                               self._configs[login].currency)
        except NoQuote:
            return 0.0, 0.0, 0.0
        return price, normalize(profit, currency_digits(self._configs[login].currency)), rate

    def _margin(self, login: int, extra: tuple[SymbolSpec, bool, int] | None = None) -> float:
        """Margin of the positions, plus an order of ``(spec, buy, volume)`` when given."""
        config, ledger = self._configs[login], self._ledgers[login]
        exposure: dict[str, list[int]] = {}
        for pos in ledger.positions.values():
            side = exposure.setdefault(pos.symbol, [0, 0])
            side[pos.type] += pos.volume
        if extra is not None:
            side = exposure.setdefault(extra[0].name, [0, 0])
            side[0 if extra[1] else 1] += extra[2]
        total = 0.0
        for symbol, (buy_volume, sell_volume) in exposure.items():
            spec = self._symbol(symbol)
            hedged = min(buy_volume, sell_volume)
            if not config.is_hedging:
                buy_volume, sell_volume, hedged = buy_volume - hedged, sell_volume - hedged, 0
            ratio = hedge_ratio(spec)
            for order_type, volume in ((OrderType.BUY, buy_volume), (OrderType.SELL, sell_volume)):
                if volume:
                    charged = (volume - hedged) + hedged * ratio
                    total += self._pricer.margin(spec, order_type, charged / LOT, self._ledgers[login].leverage,
                                                 config.currency)
        return total

    def _check_margin(self, login: int, spec: SymbolSpec, buy: bool, volume: int) -> None:
        before, after = self._margin(login), self._margin(login, (spec, buy, volume))
        if after > before and self.equity(login) - after < 0:
            raise Rejection(Retcode.NO_MONEY)

    def _position_record(self, login: int, pos: Position) -> Record:
        price, profit, rate = self._valuation(login, pos) if pos.volume else (0.0, 0.0, 0.0)
        return position_record(pos, self._symbol(pos.symbol), currency_digits(self._configs[login].currency),
                               price_close=price, profit=profit, rate_profit=rate)

    def _order_record(self, login: int, order: Order) -> Record:
        spec = self._symbol(order.symbol)
        try:
            q = self._pricer.quote(order.symbol)
            current = q.ask if order.is_buy else q.bid
        except NoQuote:
            current = 0.0
        return order_record(order, spec, currency_digits(self._configs[login].currency), current)


def _kept_expiration(req: _Request) -> int:
    """The ``time_expiration`` an order keeps: only the kinds with a given time carry one."""
    return req.expiration if req.type_time in (OrderTime.SPECIFIED, OrderTime.SPECIFIED_DAY) else 0


def _deadline(order: Order, shift: int) -> int:
    """Unix seconds at which a pending order expires (effectively never for GTC)."""
    if order.type_time == OrderTime.DAY:
        return end_of_day_s(order.time_setup_ms // 1000, shift)
    if order.type_time == OrderTime.SPECIFIED:
        return order.expiration_s
    if order.type_time == OrderTime.SPECIFIED_DAY:
        return end_of_day_s(order.expiration_s, shift)
    return 2**63
