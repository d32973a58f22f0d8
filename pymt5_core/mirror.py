"""The state mirror: account, positions, orders and deals, changed only by snapshots and server pushes.

The mirror is the client's copy of the account as the server describes it. It is rebuilt from snapshots
(command 3 account, command 4 positions and orders) on every (re)login and then follows push 14 and push
10 exactly as SPEC §8.9 says. Pushes that arrive while a snapshot is being loaded are held back and
applied after it, so no change is lost. Every change emits typed events through one callback, and only
when something really changed; read views never do I/O.

Values that the server does not send (floating profit, equity, margin, free margin, margin level, and
each position's current price and profit) are computed when read, from the latest ticks, through the
``valuation`` object the client installs (SPEC §10.2).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

from pymt5_core._construct import positional_constructor
from pymt5_core.events import AccountUpdate, OrderEvent, TradeTransaction, TransactionType
from pymt5_core.models import AccountInfo, Deal, Event, Order, Position
from pymt5_core.wire.messages import AccountBody, DealUpdate, OrderUpdate

__all__ = ["DealMark", "StateMirror", "Valuation"]

_T = TransactionType
_MONEY = ("balance", "credit", "acc_profit", "commission_daily", "commission_monthly")
_ORDER_KIND = {(0, 0): _T.ORDER_ADD, (0, 1): _T.ORDER_UPDATE, (0, 2): _T.ORDER_DELETE,
               (1, 0): _T.HISTORY_ADD, (1, 1): _T.HISTORY_UPDATE, (1, 2): _T.HISTORY_DELETE}
_DEAL_KIND = {0: _T.DEAL_ADD, 1: _T.DEAL_UPDATE, 2: _T.DEAL_DELETE}
_POSITION_CHANGED = _T.POSITION  # looked up once (a member lookup on an enum class is not cheap)
_new_account = positional_constructor(AccountInfo)
_new_order_event = positional_constructor(OrderEvent)


class Valuation(Protocol):
    """Computes the values the server does not send; installed by the client."""

    def revalue(self, position: Position) -> Position:
        """Return ``position`` with ``price_current`` and ``profit`` from the latest tick."""
        ...

    def margin(self, positions: Iterable[Position], leverage: int, hedging: bool) -> float:
        """The margin used by ``positions`` in the account currency."""
        ...


@dataclasses.dataclass(eq=False)
class DealMark:
    """The deal tickets a mirror held at one moment, without a copy of them (see :meth:`StateMirror.mark_deals`)."""

    count: int
    frozen: frozenset[int] | None = None


class StateMirror:
    """Account, positions, orders and deals keyed by ticket (positions by position id).

    Args:
        emit: receives every event the mirror produces.
        listening: tells (by the truth of what it returns) whether anybody receives events of a type;
            account updates (whose changed fields take two full account computations) and trade transactions
            are only built when it says yes. Order lifecycle events are always built: :meth:`order_log` keeps
            them.

    Read views (``positions``, ``orders``, ``history_orders``, ``deals``) are read-only mappings that
    follow the mirror; :attr:`account` and :meth:`valued_positions` compute the derived values on read.
    """

    def __init__(self, emit: Callable[[Event], None] | None = None,
                 listening: Callable[[type[Event]], object] | None = None) -> None:
        self._emit = emit or (lambda event: None)
        self._listening = listening or (lambda event_type: True)
        self.valuation: Valuation | None = None
        self.login = 0
        self._body: AccountBody | None = None
        self._money: dict[str, float] = dict.fromkeys(_MONEY, 0.0)
        self._as_sent: AccountInfo | None = None
        self._settings: tuple[AccountBody, tuple[Any, ...]] | None = None  # a body and what _account_info reads of it
        self._positions: dict[int, Position] = {}
        self._orders: dict[int, Order] = {}
        self._history_orders: dict[int, Order] = {}
        self._deals: dict[int, Deal] = {}
        self._deal_marks: list[DealMark] = []
        self._log: dict[int, list[OrderEvent]] = {}
        self._held: list[tuple[str, Any]] | None = None
        self.positions: Mapping[int, Position] = MappingProxyType(self._positions)
        self.orders: Mapping[int, Order] = MappingProxyType(self._orders)
        self.history_orders: Mapping[int, Order] = MappingProxyType(self._history_orders)
        self.deals: Mapping[int, Deal] = MappingProxyType(self._deals)

    def __repr__(self) -> str:
        return (f"<StateMirror login={self.login} positions={len(self._positions)} orders={len(self._orders)} "
                f"deals={len(self._deals)}>")

    # --- read views -----------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True once an account snapshot was loaded."""
        return self._body is not None

    @property
    def body(self) -> AccountBody | None:
        """The last account body (command 3 or push 14), with the group trade settings."""
        return self._body

    @property
    def account(self) -> AccountInfo | None:
        """The account with equity, margin and profit computed from the latest ticks (None before login)."""
        if self._body is None:
            return None
        return self._account_info(self._body, self.valued_positions())

    @property
    def account_as_sent(self) -> AccountInfo | None:
        """The account as the server sent it, nothing valued from ticks (no profit or margin; None before login)."""
        if self._body is None:
            return None
        if self._as_sent is None:  # kept until the body or the money changes
            self._as_sent = self._account_info(self._body, [])
        return self._as_sent

    def valued_positions(self) -> list[Position]:
        """Open positions with ``price_current`` and ``profit`` recomputed from the latest ticks."""
        valuation = self.valuation
        if valuation is None:
            return list(self._positions.values())
        return [valuation.revalue(p) for p in self._positions.values()]

    def mark_deals(self) -> DealMark:
        """Remember which deals the mirror holds now, for :meth:`known_deals`; :meth:`unmark_deals` when done.

        Deals are only ever appended to the (insertion-ordered) table, so the first ``count`` tickets are
        the ones held at the mark; a copy is taken only if a deal is removed while the mark is open.
        """
        mark = DealMark(len(self._deals))
        self._deal_marks.append(mark)
        return mark

    def known_deals(self, mark: DealMark) -> frozenset[int]:
        """The deal tickets the mirror held when ``mark`` was taken."""
        if mark.frozen is not None:
            return mark.frozen
        return frozenset(itertools.islice(self._deals, mark.count))

    def unmark_deals(self, mark: DealMark) -> None:
        """Forget a mark (safe to call twice)."""
        marks = self._deal_marks
        if mark in marks:  # marks compare by identity
            marks.remove(mark)

    def order_log(self, ticket: int) -> tuple[OrderEvent, ...]:
        """The lifecycle of one order, oldest first."""
        return tuple(self._log.get(ticket, ()))

    def _account_info(self, body: AccountBody, positions: list[Position]) -> AccountInfo:
        settings = self._settings
        if settings is None or settings[0] is not body:  # read once per account body: money changes more often
            settings = self._settings = body, _account_settings(body)
        (trade_mode, name, server, company, currency, digits, leverage, so_call, so_so, so_mode, margin_mode,
         free_mode, rights, trade_allowed, build, time_offset, symbols_count, otp_status, free_profit,
         hedging) = settings[1]
        money = self._money
        balance, credit = money["balance"], money["credit"]
        if positions:
            profit = sum((p.profit for p in positions), 0.0)
            equity = balance + credit + profit + sum((p.swap + p.commission for p in positions), 0.0)
            margin = self.valuation.margin(positions, leverage, hedging) if self.valuation else 0.0
            free_base = equity - max(profit, 0.0) if free_profit else equity
            level = round(equity / margin * 100.0, 2) if margin else 0.0
            profit, equity, free, margin = (round(profit, digits), round(equity, digits),
                                            round(free_base - margin, digits), round(margin, digits))
        else:  # the same sums without positions: no profit and no margin, all the equity free
            equity = free = round(balance + credit + 0.0 + 0.0, digits)
            profit = margin = level = 0.0
        # Positional, in field order (the constructor of frozen dataclasses is the dearest part otherwise).
        return _new_account(
            self.login, trade_mode, name, server, company, currency, digits, leverage, balance, credit, profit,
            equity, margin, free, level, so_call, so_so, so_mode, margin_mode, free_mode, rights, trade_allowed,
            build, time_offset, money["commission_daily"], money["commission_monthly"], money["acc_profit"],
            symbols_count, otp_status,
        )

    # --- snapshots ------------------------------------------------------------------------------

    def hold(self) -> None:
        """Hold back pushes until :meth:`release` (a snapshot is being loaded)."""
        if self._held is None:
            self._held = []

    def release(self) -> None:
        """Apply the pushes held back since :meth:`hold`, in arrival order."""
        held, self._held = self._held or [], None
        for kind, payload in held:
            if kind == "account":
                self.apply_account(payload)
            else:
                self.apply_trade_update(payload)

    def drop_held(self) -> None:
        """Forget the pushes held back (the snapshot failed; a new one will be loaded)."""
        self._held = None

    def reset(self, login: int, body: AccountBody, positions: Iterable[Mapping[str, Any]],
              orders: Iterable[Mapping[str, Any]]) -> None:
        """Install snapshots (account, open positions, active orders); emit events for what differs."""
        self.login = login
        self._set_account(body)
        new_positions = {p.ticket: p for p in map(Position.from_wire, positions)}
        for ticket, old in list(self._positions.items()):
            if ticket not in new_positions:
                del self._positions[ticket]
                if self._listening(TradeTransaction):
                    self._emit_transaction(_POSITION_CHANGED,
                                           position=dataclasses.replace(old, volume=0.0, volume_wire=0))
        for ticket, pos in new_positions.items():
            if self._positions.get(ticket) != pos:
                self._positions[ticket] = pos
                self._emit_transaction(_POSITION_CHANGED, position=pos)
        new_orders = {o.ticket: o for o in map(Order.from_wire, orders)}
        for ticket, old_order in list(self._orders.items()):
            if ticket not in new_orders:
                del self._orders[ticket]
                self._emit_transaction(_T.ORDER_DELETE, order=old_order)
                self._lifecycle(old_order, old_order, history=False, removed=True)
        for ticket, order in new_orders.items():
            previous = self._orders.get(ticket)
            if previous != order:
                self._orders[ticket] = order
                self._emit_transaction(_T.ORDER_UPDATE if previous else _T.ORDER_ADD, order=order)
                self._lifecycle(order, previous, history=False)

    def add_history(self, deals: Iterable[Mapping[str, Any]], orders: Iterable[Mapping[str, Any]]
                    ) -> tuple[list[Deal], list[Order]]:
        """Merge a history answer (command 5) into the deals and history orders, without events; return the
        answer's deals and orders as models."""
        answer = list(map(Deal.from_wire, deals)), list(map(Order.from_wire, orders))
        for deal in answer[0]:
            self._deals.setdefault(deal.ticket, deal)
        for order in answer[1]:
            self._history_orders.setdefault(order.ticket, order)
        return answer

    # --- pushes ---------------------------------------------------------------------------------

    def apply_account(self, body: AccountBody) -> None:
        """Push 14: replace the account."""
        if self._held is not None:
            self._held.append(("account", body))
            return
        self._set_account(body)

    def _set_account(self, body: AccountBody) -> None:
        before = self._account_before()
        self._body = body
        self._as_sent = None
        main = body.main
        for name in _MONEY:
            self._money[name] = float(main[name])
        self._account_changed(before)

    def _account_before(self) -> AccountInfo | None:
        """The account before a change, when an :class:`AccountUpdate` will be wanted (else None)."""
        if self._body is None or not self._listening(AccountUpdate):
            return None
        return self._account_info(self._body, [])

    def _account_changed(self, before: AccountInfo | None) -> None:
        assert self._body is not None
        if not self._listening(AccountUpdate):
            return
        after = self._account_info(self._body, [])
        if before is None:
            changed = frozenset(f.name for f in dataclasses.fields(AccountInfo))
        else:
            changed = frozenset(f.name for f in dataclasses.fields(AccountInfo)
                                if getattr(before, f.name) != getattr(after, f.name))
        if changed:
            self._emit(AccountUpdate(self.account or after, changed))

    def apply_trade_update(self, updates: list[OrderUpdate | DealUpdate]) -> None:
        """Push 10: apply every record as SPEC §8.9 says."""
        if self._held is not None:
            self._held.append(("trade", updates))
            return
        last: tuple[object, Order] | None = None
        for update in updates:
            if isinstance(update, OrderUpdate):
                # As read, the record is still bytes (no dict made). A filled order comes as "delete from active"
                # and "add to history" with the same record: one Order for both.
                at = update.order_at
                record = update.order if at is None else at
                if last is not None and (record is last[0] or record == last[0]):
                    order = last[1]
                else:
                    order = Order.from_record(update.order) if at is None else Order.from_buffer(*at)
                last = record, order
                self._apply_order(update, order)
            else:
                self._apply_deal(update)

    def _apply_order(self, u: OrderUpdate, order: Order) -> None:
        history = u.flag_mask == 1
        kind = _ORDER_KIND.get((1 if history else 0, u.transaction_type))
        if kind is None:
            return
        table = self._history_orders if history else self._orders
        previous = table.get(order.ticket)
        if u.transaction_type == 2:
            if table.pop(order.ticket, None) is None:
                return
            self._emit_transaction(kind, order=order)
            if not history:
                self._lifecycle(order, previous, history=False, removed=True)
            return
        if previous is not None and ((history and u.transaction_type == 0) or previous == order):
            return  # "add to history unless already present", or nothing changed
        table[order.ticket] = order
        self._emit_transaction(kind, order=order)
        self._lifecycle(order, previous, history=history)

    def _emit_transaction(self, kind: TransactionType, *, order: Order | None = None, deal: Deal | None = None,
                          position: Position | None = None) -> None:
        """Emit a :class:`TradeTransaction` if anyone listens (nobody listening is common: then none is built)."""
        if self._listening(TradeTransaction):
            self._emit(TradeTransaction(kind, order, deal, position))

    def _lifecycle(self, order: Order, previous: Order | None, *, history: bool, removed: bool = False) -> None:
        log = self._log.get(order.ticket)
        if log is None:
            log = self._log[order.ticket] = []
        last_state = log[-1].state if log else None
        if not removed and last_state == order.state:
            return
        if removed and log and log[-1].removed:
            return
        event = _new_order_event(order.ticket, order.state, last_state, order, history, removed)
        log.append(event)
        self._emit(event)

    def _apply_deal(self, u: DealUpdate) -> None:
        if u.transaction_type == 0:
            m = self._money
            # An opening deal usually leaves the money (and so the cached account) as it was.
            if (u.balance != m["balance"] or u.credit != m["credit"] or u.acc_profit != m["acc_profit"]
                    or u.commission_daily != m["commission_daily"] or u.commission_monthly != m["commission_monthly"]):
                before = self._account_before()
                self._as_sent = None
                m["balance"], m["credit"], m["acc_profit"] = u.balance, u.credit, u.acc_profit
                m["commission_daily"], m["commission_monthly"] = u.commission_daily, u.commission_monthly
                if self._body is not None:
                    self._account_changed(before)
        position_at, deal_at = u.position_at, u.deal_at
        positions: Iterable[Position]
        deals: Iterable[Deal]
        if position_at is not None and deal_at is not None:  # as read: the models straight from the bytes
            position, deal = Position.from_buffer(*position_at), Deal.from_buffer(*deal_at)
            touched: object = position.symbol or deal.symbol
            positions = itertools.chain((position,), map(Position.from_record, u.positions)) if u.positions \
                else (position,)
            deals = itertools.chain((deal,), map(Deal.from_record, u.deals)) if u.deals else (deal,)
        else:
            touched = u.position.get("trade_symbol") or u.deal.get("trade_symbol")
            positions = map(Position.from_record, (u.position, *u.positions))
            deals = (Deal.from_record(r) for r in (u.deal, *u.deals) if r.get("deal"))
        if touched:
            for pos in positions:
                if not self._apply_position(pos):
                    return  # an unknown position closed: skip the rest of this record (SPEC §8.9)
        for deal in deals:
            if deal.ticket:  # ticket 0: no deal
                self._apply_deal_record(deal, u.transaction_type)

    def _apply_position(self, pos: Position) -> bool:
        ticket = pos.ticket
        if not ticket:
            ticket = next((t for t, p in self._positions.items() if p.symbol == pos.symbol), 0)
        existing = self._positions.get(ticket) if ticket else None
        if existing is None:
            if pos.volume_wire <= 0:
                return False
            self._positions[pos.ticket] = pos
            self._emit_transaction(_POSITION_CHANGED, position=pos)
            return True
        if pos.volume_wire > 0:
            if existing != pos:
                if ticket != pos.ticket:
                    del self._positions[ticket]
                self._positions[pos.ticket] = pos
                self._emit_transaction(_POSITION_CHANGED, position=pos)
        else:
            del self._positions[ticket]
            self._emit_transaction(_POSITION_CHANGED, position=pos)
        return True

    def _apply_deal_record(self, deal: Deal, transaction_type: int) -> None:
        if transaction_type == 0:
            if deal.ticket in self._deals:
                return  # duplicate
        elif transaction_type == 1:
            if self._deals.get(deal.ticket) == deal:
                return
        elif transaction_type == 2:
            if deal.ticket not in self._deals:
                return
            for mark in self._deal_marks:  # the table is about to lose a ticket the open marks may count
                if mark.frozen is None:
                    mark.frozen = self.known_deals(mark)
            del self._deals[deal.ticket]
            self._emit_transaction(_T.DEAL_DELETE, deal=deal)
            return
        else:
            return
        self._deals[deal.ticket] = deal
        self._emit_transaction(_DEAL_KIND[transaction_type], deal=deal)


def _account_settings(body: AccountBody) -> tuple[Any, ...]:
    """The values :class:`AccountInfo` takes from an account body besides the money, in the order
    :meth:`StateMirror._account_info` reads them."""
    main = body.main
    rights = int(main["rights"])
    return (
        int(main["account_type"]), str(main["account_name"]), str(main["server_name"]), str(main["company"]),
        str(main["account_currency"]), int(main["currency_digits"]) or 2, int(main["margin_leverage"]),
        float(main["margin_so_call"]), float(main["margin_so_so"]), int(main["margin_so_mode"]),
        int(main["margin_mode"]), int(main["margin_free_mode"]), rights, not rights & (4 | 8 | 512),
        int(main["server_build"]), int(main["timezone_shift"]) + 3600 * int(main["daylightmode"]),
        body.symbols_count, int(main["otp_status"]), bool(main["margin_free_profit_mode"]),
        int(main["margin_mode"]) == 2,
    )
