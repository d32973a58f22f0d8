"""MT5Broker: Backtrader orders become MT5 trade requests; MT5 deals and order steps become Backtrader state."""

from __future__ import annotations

import collections
import concurrent.futures
import datetime as _dt
import logging
import queue
from dataclasses import dataclass, field
from typing import Any

import backtrader as bt

from pymt5_backtrader import parsing
from pymt5_backtrader.parsing import DealFill, OrderSnap
from pymt5_backtrader.store import MT5Store

__all__ = ["MT5Broker", "MT5CommInfo"]

log = logging.getLogger("pymt5_backtrader")

_ALIVE = (bt.Order.Submitted, bt.Order.Accepted, bt.Order.Partial)
#: Final MT5 order states (from the history list) -> Backtrader status. FILLED completes through deals.
MAP_FINAL_STATE: dict[int, int] = {
    2: bt.Order.Canceled,
    3: bt.Order.Canceled,  # partially filled, remainder removed
    5: bt.Order.Rejected,
    6: bt.Order.Expired,
}


class MT5CommInfo(bt.CommInfoBase):
    """Commission scheme built from an MT5 symbol's contract specification.

    Commissions themselves are not computed here: every fill carries the commission MT5 charged on its
    deal. This scheme gives Backtrader the value of a position and the profit of a price move:
    ``mult`` is the account-currency value of one price unit per unit of size
    (``tick_value / tick_size``, per lot when sizes are lots, per unit of the base asset otherwise).

    Backtrader computes a trade's P&L itself, through ``profitandloss``. For every closing fill the broker
    first records the profit MT5 booked on the deal (:meth:`expect_profit`), and ``profitandloss`` returns
    it, so trade P&L equals the deals' profits even when the profit currency is converted at the rate of
    the moment. Without a recorded deal it computes ``size x move x mult``, rounded to the account
    currency's ``digits`` as MT5 rounds deal profits.

    Params: ``mult`` (1.0), ``leverage`` (1.0), ``digits`` (2), ``stocklike`` (False), ``commission`` (0.0).
    """

    params = (("stocklike", False), ("commission", 0.0), ("mult", 1.0), ("margin", None), ("leverage", 1.0),
              ("percabs", True), ("digits", 2))

    def __init__(self) -> None:
        super().__init__()
        self._booked: dict[tuple[float, float], collections.deque[float]] = {}

    def expect_profit(self, size: float, price: float, profit: float) -> None:
        """Record the profit MT5 booked for closing ``size`` (the closed position's sign) at ``price``."""
        self._booked.setdefault((round(size, 8), round(price, 10)), collections.deque()).append(profit)

    def getvaluesize(self, size: float, price: float) -> float:
        return abs(size) * price * self.p.mult / self.p.leverage

    def getoperationcost(self, size: float, price: float) -> float:
        return self.getvaluesize(size, price)

    def profitandloss(self, size: float, price: float, newprice: float) -> float:
        booked = self._booked.get((round(size, 8), round(newprice, 10)))
        if booked:
            return booked.popleft()
        return parsing.round_money(size * (newprice - price) * self.p.mult, self.p.digits)

    def getcommission(self, size: float, price: float) -> float:
        return 0.0


@dataclass
class _Tracked:
    """A Backtrader order and what MT5 knows of it."""

    order: Any
    symbol: str
    tickets: set[int] = field(default_factory=set)
    parts_in_flight: int = 0
    cancel_requested: bool = False
    outcome_unknown: bool = False
    unknown_since: int = 0  # the last server-state fetch started before the outcome became unknown
    final_status: int | None = None  # a final MT5 state waiting for its deals
    final_volume: float = 0.0
    sl: float = 0.0
    tp: float = 0.0
    children: list[Any] = field(default_factory=list)  # native bracket children (stop, limit)
    position_id: int = 0
    emulated_children: list[Any] = field(default_factory=list)


class MT5Broker(bt.broker.BrokerBase):
    """Broker that trades an MT5 account through :class:`MT5Store`.

    Order mapping: Market and Close → market deal; Limit → BUY/SELL_LIMIT; Stop → BUY/SELL_STOP;
    StopLimit → BUY/SELL_STOP_LIMIT (``price`` is the trigger, ``plimit`` the limit placed on activation).
    ``valid``: None → GTC, 0 or ``Order.DAY`` → DAY, a date/datetime/timedelta → SPECIFIED. StopTrail and
    StopTrailLimit are rejected (MT5 trailing stops live in the terminal, not on the server).

    Brackets: the stop and limit children are sent as the SL and TP of the parent's MT5 request, so the
    server protects the resulting position (hedging accounts always; netting accounts when the bracket
    opens from flat). Otherwise they are placed as real pending orders once the parent has filled and
    kept as an OCO group by the broker. When one side fills, the other is cancelled.

    Positions: Backtrader keeps one net position per data; on hedging accounts it is the sum of the
    symbol's MT5 positions, and an order that reduces it closes MT5 positions oldest first (``position``
    requests) before opening anything new. Positions and pending orders that exist at start are loaded.

    Cash is the account's free margin, value its equity (both from the client's account mirror).

    Params (with defaults):

      - ``size_in_lots`` (True): order sizes are lots; False: units of the base asset, converted with
        the symbol's contract size and checked against volume min/step/max before sending.
      - ``deviation`` (10): maximal price deviation in points for market orders.
      - ``filling`` (None): MT5 filling kind (0 FOK, 1 IOC, 2 RETURN) or None for the symbol's default.
      - ``comment_prefix`` (``"bt"``): MT5 order comment is ``prefix + order.ref``; it lets the broker find
        its orders again after a reconnect.
      - ``use_positions`` (True): load the account's open positions at start.
      - ``store`` (None): the :class:`MT5Store`; else ``url``/``login``/``password`` create one.
    """

    params = (
        ("size_in_lots", True),
        ("deviation", 10),
        ("filling", None),
        ("comment_prefix", "bt"),
        ("use_positions", True),
        ("store", None),
        ("url", None),
        ("login", None),
        ("password", None),
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        from pymt5_core._validate import check_int
        from pymt5_core.errors import InvalidRequest

        check_int(self.p.deviation, "deviation", minimum=0, maximum=2**31 - 1)
        if self.p.filling is not None:
            check_int(self.p.filling, "filling", minimum=0, maximum=3)
        if not isinstance(self.p.comment_prefix, str):
            raise InvalidRequest("comment_prefix must be a str")
        store = self.p.store
        if store is None:
            if self.p.url is None or self.p.login is None:
                raise InvalidRequest("MT5Broker needs store=... or url=/login=/password=")
            store = MT5Store(url=self.p.url, login=self.p.login, password=self.p.password or "")
        self.store: MT5Store = store
        self._reset()

    def _reset(self) -> None:
        self.notifs: collections.deque[Any] = collections.deque()
        self._orders: dict[int, _Tracked] = {}
        self._by_ticket: dict[int, int] = {}
        self._seen_deals: set[int] = set()
        self._orphans: dict[int, list[DealFill]] = {}
        self._positions: dict[Any, bt.Position] = {}
        self._initial: dict[str, tuple[float, float]] = {}
        self._mt5_positions: dict[int, tuple[str, float, float]] = {}
        self._brackets: dict[int, _Tracked] = {}  # position id -> parent with native children
        self._closed_brackets: set[int] = set()  # bracket positions closed, waiting for their closing deal
        self._exits_seen: set[int] = set()  # bracket positions whose closing deal was applied
        self._oco: dict[int, list[Any]] = {}
        self._held: dict[int, list[Any]] = {}
        self._datas: dict[str, Any] = {}
        self._comminfos: dict[str, MT5CommInfo] = {}
        self._retry: list[tuple[_Tracked, Any]] = []
        self._fetches = 0
        self._start_ms = 0
        self.startingcash = self.startingvalue = 0.0

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect the store, then load the account's positions and pending orders."""
        super().start()
        self._reset()
        self.store.start(broker=self)
        self._start_ms = int(_dt.datetime.now(_dt.UTC).timestamp() * 1000)
        client = self.store.client

        async def snapshot() -> tuple[list[int], list[Any], list[Any]]:
            # one loop turn: events queued from here on are exactly those after the snapshot
            self.store.broker_queue = queue.Queue()
            mirror = getattr(client, "mirror", None)
            deals = list(getattr(mirror, "deals", {}) or {})
            positions = await client.positions() if self.p.use_positions else []
            return deals, positions, await client.orders()

        deals, positions, orders = self.store.run(snapshot())
        self._seen_deals.update(deals)
        for pos in positions:
            symbol, ticket, volume, price = parsing.parse_position(pos)
            self._mt5_positions[ticket] = (symbol, volume, price)
        for symbol in {s for s, _, _ in self._mt5_positions.values()}:
            self._initial[symbol] = self._net(symbol)
        self._pending_at_start = [parsing.parse_order(o) for o in orders]
        self.startingcash = self.getcash()
        self.startingvalue = self.getvalue()

    def stop(self) -> None:
        """Release the store."""
        super().stop()
        self.store.stop(self)

    def data_started(self, data: Any) -> None:
        """Register a feed: its symbol's pending orders found at start become Accepted Backtrader orders."""
        symbol = self._symbol_of(data)
        self._datas.setdefault(symbol, data)
        for snap in [s for s in getattr(self, "_pending_at_start", []) if s.symbol == symbol]:
            is_buy = snap.type in (0, 2, 4, 6)
            exectype = {2: bt.Order.Limit, 3: bt.Order.Limit, 4: bt.Order.Stop, 5: bt.Order.Stop,
                        6: bt.Order.StopLimit, 7: bt.Order.StopLimit}.get(snap.type, bt.Order.Market)
            cls = bt.BuyOrder if is_buy else bt.SellOrder
            size = parsing.volume_to_size(snap.volume_current, self._symbol_info(symbol), in_lots=self.p.size_in_lots)
            # simulated=True only while constructing: the feed has no bar yet to date the order with
            order = cls(owner=None, data=data, size=size, price=snap.price_open, exectype=exectype,
                        simulated=True)
            order.p.simulated = False
            order.addcomminfo(self.getcommissioninfo(data))
            order.accept(self)
            tracked = _Tracked(order, symbol, tickets={snap.ticket})
            self._orders[order.ref] = tracked
            self._by_ticket[snap.ticket] = order.ref
            self.notify(order)
        self._pending_at_start = [s for s in getattr(self, "_pending_at_start", []) if s.symbol != symbol]

    # --- read views (never block) ---------------------------------------------------------------------

    def getcash(self) -> float:
        """Free margin of the account (cached; never blocks)."""
        account = self.store.account
        return float(account.margin_free) if account is not None else 0.0

    def getvalue(self, datas: Any = None) -> float:
        """Equity of the account, or the value of the positions of ``datas`` (cached; never blocks)."""
        if datas:
            total = 0.0
            for data in datas:
                pos = self.getposition(data, clone=False)
                if pos.size:
                    total += self.getcommissioninfo(data).getvaluesize(pos.size, data.close[0])
            return total
        account = self.store.account
        return float(account.equity) if account is not None else 0.0

    get_cash = getcash
    get_value = getvalue

    def getposition(self, data: Any, clone: bool = True) -> bt.Position:
        """The net position of ``data`` (in lots, or units when ``size_in_lots=False``)."""
        pos = self._positions.get(data)
        if pos is None:
            symbol = self._symbol_of(data)
            size, price = self._initial.pop(symbol, (0.0, 0.0))
            if size:
                size = size if self.p.size_in_lots else size * self._contract_size(symbol)
            pos = self._positions[data] = bt.Position(size, price)
        return pos.clone() if clone else pos

    def getcommissioninfo(self, data: Any) -> MT5CommInfo:
        """The :class:`MT5CommInfo` of ``data``'s symbol, from its contract specification."""
        symbol = self._symbol_of(data)
        info = self._comminfos.get(symbol)
        if info is None:
            spec = self._symbol_info(symbol)
            tick_size = float(getattr(spec, "tick_size", 0.0) or spec.point or 0.0)
            tick_value = float(getattr(spec, "tick_value", 0.0) or 0.0)
            contract = self._contract_size(symbol)
            per_lot = tick_value / tick_size if tick_size and tick_value else contract
            mult = per_lot if self.p.size_in_lots else per_lot / contract
            account = self.store.account
            leverage = float(getattr(account, "leverage", 1) or 1)
            digits = int(getattr(account, "currency_digits", 2) or 2)
            info = self._comminfos[symbol] = MT5CommInfo(mult=mult, leverage=leverage, digits=digits)
        return info

    def orderstatus(self, order: Any) -> int:
        tracked = self._orders.get(order.ref)
        return tracked.order.status if tracked is not None else order.status

    def get_notification(self) -> Any:
        try:
            return self.notifs.popleft()
        except IndexError:
            return None

    def notify(self, order: Any) -> None:
        self.notifs.append(order.clone())

    # --- order entry ----------------------------------------------------------------------------------

    def buy(self, owner: Any, data: Any, size: float, price: float | None = None, plimit: float | None = None,
            exectype: int | None = None, valid: Any = None, tradeid: int = 0, oco: Any = None,
            trailamount: float | None = None, trailpercent: float | None = None, parent: Any = None,
            transmit: bool = True, **kwargs: Any) -> Any:
        order = bt.BuyOrder(owner=owner, data=data, size=size, price=price, pricelimit=plimit,
                            exectype=exectype, valid=valid, tradeid=tradeid, oco=oco, trailamount=trailamount,
                            trailpercent=trailpercent, parent=parent, transmit=transmit)
        self._addinfo(order, kwargs)
        return self.submit(order)

    def sell(self, owner: Any, data: Any, size: float, price: float | None = None, plimit: float | None = None,
             exectype: int | None = None, valid: Any = None, tradeid: int = 0, oco: Any = None,
             trailamount: float | None = None, trailpercent: float | None = None, parent: Any = None,
             transmit: bool = True, **kwargs: Any) -> Any:
        order = bt.SellOrder(owner=owner, data=data, size=size, price=price, pricelimit=plimit,
                             exectype=exectype, valid=valid, tradeid=tradeid, oco=oco, trailamount=trailamount,
                             trailpercent=trailpercent, parent=parent, transmit=transmit)
        self._addinfo(order, kwargs)
        return self.submit(order)

    @staticmethod
    def _addinfo(order: Any, kwargs: dict[str, Any]) -> None:
        # Strategy.buy/sell pass these two for BackBroker; they are not user info
        kwargs.pop("histnotify", None)
        kwargs.pop("_checksubmit", None)
        order.addinfo(**kwargs)

    def submit(self, order: Any) -> Any:
        """Mark ``order`` Submitted and send it (a bracket is sent when its last order is transmitted)."""
        order.submit(self)
        order.addcomminfo(self.getcommissioninfo(order.data))
        tracked = self._orders[order.ref] = _Tracked(order, self._symbol_of(order.data))
        self.notify(order)
        if order.parent is None and not order.transmit:
            self._held[order.ref] = [order]
            return order
        if order.parent is not None:
            group = self._held.setdefault(order.parent.ref, [order.parent])
            group.append(order)
            if not order.transmit:
                return order
            del self._held[order.parent.ref]
            self._send_bracket(group)
            return order
        if order.oco is not None:
            self._join_oco(order, order.oco)
        self._send(tracked)
        return order

    def cancel(self, order: Any) -> None:
        """Ask MT5 to remove ``order``; it turns Canceled when the server confirms.

        An order whose request got no answer (connection lost, or no result in time) stays alive until the
        server's state tells what became of it (see :meth:`_settle_unknown`).
        """
        tracked = self._orders.get(order.ref)
        if tracked is None or tracked.order.status not in _ALIVE:
            return
        parent = self._parent_of(tracked)
        if parent is not None:  # a native bracket child: drop its level from the order/position
            self._detach_child(parent, tracked)
            return
        if not (tracked.tickets or tracked.parts_in_flight or tracked.outcome_unknown):  # never sent
            self._finish(tracked, bt.Order.Canceled)
            return
        tracked.cancel_requested = True
        self._cancel_tickets(tracked)

    # --- sending --------------------------------------------------------------------------------------

    def _send_bracket(self, group: list[Any]) -> None:
        parent_order, children = group[0], group[1:]
        parent = self._orders[parent_order.ref]
        pos = self.getposition(parent_order.data, clone=False)
        stop = next((c for c in children if c.exectype == bt.Order.Stop), None)
        limit = next((c for c in children if c.exectype == bt.Order.Limit), None)
        sizes_match = all(abs(c.size) == abs(parent_order.size) for c in children)
        native = sizes_match and (self.store.hedging or not pos.size) and \
            parent_order.exectype in parsing.EXECTYPE_NATIVE_BRACKET
        if native:
            parent.sl = stop.created.price if stop is not None else 0.0
            parent.tp = limit.created.price if limit is not None else 0.0
            parent.children = [c for c in (stop, limit) if c is not None]
        else:
            parent.emulated_children = list(children)
        self._send(parent)

    def _send(self, tracked: _Tracked) -> None:
        from pymt5_core.errors import RequestError

        order = tracked.order
        try:
            requests = self._build_requests(tracked)
        except (ValueError, RequestError) as exc:  # refused before sending: the order is Rejected
            self.store.put_notification("order rejected", str(exc), ref=order.ref,
                                        retcode=getattr(exc, "retcode", None))
            self._finish(tracked, bt.Order.Rejected)
            return
        for request in requests:
            self._dispatch(tracked, request)

    def _dispatch(self, tracked: _Tracked, request: Any) -> None:
        tracked.parts_in_flight += 1
        ref = tracked.order.ref
        broker_queue = self.store.broker_queue

        def done(fut: concurrent.futures.Future[Any]) -> None:
            try:
                broker_queue.put(("result", ref, request, fut.result()))
            except BaseException as exc:
                broker_queue.put(("result", ref, request, exc))

        self.store.spawn(self.store.client.order_send(request), done)

    def _build_requests(self, tracked: _Tracked) -> list[Any]:
        from pymt5_core.errors import InvalidRequest
        from pymt5_core.models import RequestAction, TradeRequest

        order, symbol = tracked.order, tracked.symbol
        key = (order.exectype, order.isbuy())
        if key not in parsing.MAP_EXECTYPE:
            raise InvalidRequest(f"order type {order.getordername()} is not supported on MT5")
        info = self._symbol_info(symbol)
        volume = parsing.size_to_volume(order.size, info, in_lots=self.p.size_in_lots)
        mt5_type = parsing.MAP_EXECTYPE[key]
        comment = f"{self.p.comment_prefix}{order.ref}"
        common = {"symbol": symbol, "type": mt5_type, "sl": tracked.sl, "tp": tracked.tp, "comment": comment}
        if self.p.filling is not None:
            common["type_filling"] = self.p.filling
        if mt5_type in (parsing.ORDER_TYPE_BUY, parsing.ORDER_TYPE_SELL):
            requests = []
            if self.store.hedging and not tracked.children:
                volume, requests = self._hedging_closes(symbol, volume, order.isbuy(), comment)
            if volume > 0:
                requests.append(TradeRequest(RequestAction.DEAL, volume=volume, deviation=self.p.deviation,
                                             **common))
            return requests
        type_time, expiration = parsing.parse_valid(order.valid, order.data)
        price, stoplimit = order.created.price, 0.0
        if order.exectype == bt.Order.StopLimit:
            stoplimit = order.created.pricelimit
        return [TradeRequest(RequestAction.PENDING, volume=volume, price=price, stoplimit=stoplimit,
                             type_time=type_time, expiration=expiration, **common)]

    def _hedging_closes(self, symbol: str, volume: float, is_buy: bool, comment: str) -> tuple[float, list[Any]]:
        """Split a reducing market order into closes of opposite MT5 positions, oldest first."""
        from pymt5_core.models import RequestAction, TradeRequest

        requests = []
        for ticket in sorted(self._mt5_positions):
            pos_symbol, pos_volume, _ = self._mt5_positions[ticket]
            if volume <= 1e-12 or pos_symbol != symbol or (pos_volume > 0) == is_buy or ticket in self._brackets:
                continue
            part = round(min(volume, abs(pos_volume)), 8)
            requests.append(TradeRequest(RequestAction.DEAL, symbol=symbol, volume=part, type=0 if is_buy else 1,
                                         position=ticket, deviation=self.p.deviation, comment=comment))
            volume = round(volume - part, 8)
        return volume, requests

    def _cancel_tickets(self, tracked: _Tracked) -> None:
        for ticket in list(tracked.tickets):
            self.store.spawn(self.store.client.cancel(ticket), self._log_failure)

    def _log_failure(self, fut: concurrent.futures.Future[Any]) -> None:
        exc = fut.exception()
        if exc is not None:
            self.store.put_notification("request failed", repr(exc))

    def _detach_child(self, parent: _Tracked, child: _Tracked) -> None:
        is_stop = child.order.exectype == bt.Order.Stop
        if is_stop:
            parent.sl = 0.0
        else:
            parent.tp = 0.0
        parent.children = [c for c in parent.children if c.ref != child.order.ref]
        target = parent.position_id or next(iter(parent.tickets), 0)
        if target:
            kwargs = {"sl": 0.0} if is_stop else {"tp": 0.0}
            self.store.spawn(self.store.client.modify(target, **kwargs), self._log_failure)
        self._finish(child, bt.Order.Canceled)

    def _join_oco(self, order: Any, other: Any) -> None:
        group = self._oco.get(other.ref) or [other]
        if order not in group:
            group.append(order)
        for member in group:
            self._oco[member.ref] = group

    # --- incoming events (Backtrader's thread) ---------------------------------------------------------

    def next(self) -> None:
        """Apply every event the store queued since the last call (results, deals, order steps)."""
        q = self.store.broker_queue
        while True:
            try:
                item = q.get_nowait()
            except queue.Empty:
                break
            kind = item[0]
            if kind == "deal":
                self._on_deal(item[1])
            elif kind == "order":
                self._on_order(item[1], item[2], item[3])
            elif kind == "result":
                self._on_result(item[1], item[2], item[3])
            elif kind == "position":
                self._on_position(item[1])
            elif kind == "reconnected":
                self._reconcile()
            elif kind == "reconciled":
                self._settle_unknown(item[1])
        for position_id in [p for p in self._closed_brackets if p in self._exits_seen]:
            # the position was closed by something else than its SL/TP: drop the children
            self._closed_brackets.discard(position_id)
            parent = self._brackets.pop(position_id, None)
            for child in parent.children if parent is not None else ():
                self._finish(self._orders[child.ref], bt.Order.Canceled)
        self._closed_brackets &= set(self._brackets)
        if self._orphans and not any(t.parts_in_flight for t in self._orders.values()):
            for deals in list(self._orphans.values()):
                for deal in deals:
                    self._apply_external(deal)
            self._orphans.clear()

    def _on_result(self, ref: int, request: Any, result: Any) -> None:
        from pymt5_core.errors import ConnectionLost, NotConnected, RequestError, RequestTimeout

        tracked = self._orders[ref]
        tracked.parts_in_flight -= 1
        order = tracked.order
        if isinstance(result, BaseException):
            if isinstance(result, NotConnected):  # nothing was sent: send again once reconnected
                self._retry.append((tracked, request))
                tracked.parts_in_flight += 1
                return
            # sent but never answered (link lost, or no result in time): the server may have executed it, or
            # still will; its late deals fill the order (matched by comment), the server-state fetch settles it
            if isinstance(result, (ConnectionLost, RequestTimeout)):
                tracked.outcome_unknown = True
                tracked.unknown_since = self._fetches
                self.store.put_notification("order outcome unknown", str(result), ref=ref)
                if self.store.connected:  # else the reconnect's reconcile fetches the server state
                    self._fetch_server_state()
                return
            retcode = getattr(result, "retcode", None) if isinstance(result, RequestError) else None
            self.store.put_notification("order rejected", str(result), ref=ref, retcode=retcode)
            if order.status in _ALIVE and not tracked.tickets:
                self._finish(tracked, parsing.MAP_RETCODE_STATUS.get(retcode or 0, bt.Order.Rejected))
            return
        if result.order:
            self._map_ticket(tracked, int(result.order))
        if not result.success:
            status = parsing.MAP_RETCODE_STATUS.get(result.retcode, bt.Order.Rejected)
            self.store.put_notification("order rejected", result.comment, ref=ref, retcode=result.retcode)
            if order.status in _ALIVE and not order.executed.size and not tracked.parts_in_flight:
                self._finish(tracked, status)
            return
        if order.status == bt.Order.Submitted:
            order.accept(self)
            self.notify(order)
        if tracked.cancel_requested:
            self._cancel_tickets(tracked)
        self._flush_orphans(int(result.order))

    def _map_ticket(self, tracked: _Tracked, ticket: int) -> None:
        tracked.tickets.add(ticket)
        self._by_ticket[ticket] = tracked.order.ref

    def _flush_orphans(self, ticket: int) -> None:
        for deal in self._orphans.pop(ticket, []):
            self._seen_deals.discard(deal.ticket)
            self._on_deal(deal)

    def _tracked_for(self, ticket: int, comment: str) -> _Tracked | None:
        ref = self._by_ticket.get(ticket)
        if ref is None:
            prefix = self.p.comment_prefix
            if comment.startswith(prefix) and comment[len(prefix):].isdigit():
                ref = int(comment[len(prefix):])
                tracked = self._orders.get(ref)
                if tracked is not None and ticket and tracked.order.status in _ALIVE:
                    self._map_ticket(tracked, ticket)
        return self._orders.get(ref) if ref is not None else None

    def _on_deal(self, deal: DealFill) -> None:
        if deal.ticket in self._seen_deals or not deal.symbol or deal.volume <= 0:
            return
        self._seen_deals.add(deal.ticket)
        tracked = self._tracked_for(deal.order, deal.comment)
        if deal.entry in (1, 3) and deal.position_id in self._brackets:
            self._exits_seen.add(deal.position_id)
        if tracked is not None and tracked.order.status in _ALIVE:
            self._fill(tracked, deal)
            return
        parent = self._brackets.get(deal.position_id)
        # the server's SL/TP order closes the position (it may copy the parent's comment)
        if parent is not None and deal.entry in (1, 3) and (tracked is None or tracked is parent):
            self._fill_bracket_child(parent, deal)
            return
        if tracked is not None:
            self._apply_external(deal)
        else:
            self._orphans.setdefault(deal.order, []).append(deal)

    def _apply_external(self, deal: DealFill) -> None:
        """A deal no Backtrader order caused (manual trade, stop-out, SL/TP set elsewhere)."""
        data = self._datas.get(deal.symbol)
        if data is None:
            return
        size = parsing.volume_to_size(deal.volume, self._symbol_info(deal.symbol), in_lots=self.p.size_in_lots)
        pos = self.getposition(data, clone=False)
        pos.update(size if deal.is_buy else -size, deal.price)
        if abs(pos.size) < 1e-9:
            pos.size, pos.price = 0.0, 0.0
        self.store.put_notification("external deal", deal=deal.ticket, symbol=deal.symbol)

    def _fill(self, tracked: _Tracked, deal: DealFill) -> None:
        order = tracked.order
        if order.status not in _ALIVE:
            return
        if order.status == bt.Order.Submitted:
            order.accept(self)
            self.notify(order)
        data = order.data
        size = parsing.volume_to_size(deal.volume, self._symbol_info(tracked.symbol), in_lots=self.p.size_in_lots)
        size = min(size, abs(order.executed.remsize)) or size  # never more than the order has left
        size = size if deal.is_buy else -size
        comminfo = self.getcommissioninfo(data)
        pos = self.getposition(data, clone=False)
        pprice_orig = pos.price
        psize, pprice, opened, closed = pos.update(size, deal.price)
        if abs(pos.size) < 1e-9:  # lots are decimal: do not leave float dust in a flat position
            pos.size = psize = 0.0
            pos.price = pprice = 0.0
        commission = -deal.commission
        closedcomm = commission * abs(closed) / abs(size) if size else 0.0
        openedcomm = commission - closedcomm
        closedvalue = comminfo.getoperationcost(closed, pprice_orig)
        openedvalue = comminfo.getoperationcost(opened, deal.price)
        pnl = deal.profit if closed else 0.0
        if closed:
            comminfo.expect_profit(-closed, deal.price, deal.profit)
        dt = bt.date2num(_dt.datetime(1970, 1, 1) + _dt.timedelta(milliseconds=deal.time_ms))
        margin = comminfo.getvaluesize(size, deal.price)
        order.execute(dt, size, deal.price, closed, closedvalue, closedcomm, opened, openedvalue, openedcomm,
                      margin, pnl, psize, pprice)
        if abs(order.executed.remsize) < 1e-9:
            order.executed.remsize = 0.0
            order.status = bt.Order.Completed
        else:
            order.status = bt.Order.Partial
        if deal.entry in (0, 2) and deal.position_id:
            tracked.position_id = deal.position_id
            if tracked.children:
                self._brackets[deal.position_id] = tracked
        self.notify(order)
        if order.status == bt.Order.Completed:
            self._on_completed(tracked)
        elif tracked.final_status is not None:
            self._settle_final(tracked)
        self._oco_trigger(order)

    def _on_completed(self, tracked: _Tracked) -> None:
        if tracked.emulated_children:  # bracket children become real pending orders, as an OCO group
            children, tracked.emulated_children = tracked.emulated_children, []
            for child in children:
                self._join_oco(child, children[0])
            for child in children:
                if child.status in _ALIVE:  # a child cancelled meanwhile is not sent
                    self._send(self._orders[child.ref])
        for child in tracked.children:  # native children: now protecting the position
            child_tracked = self._orders[child.ref]
            if child.status == bt.Order.Submitted:
                child.accept(self)
                self.notify(child)
            child_tracked.position_id = tracked.position_id

    def _fill_bracket_child(self, parent: _Tracked, deal: DealFill) -> None:
        alive = [self._orders[c.ref] for c in parent.children if c.status in _ALIVE]
        if not alive:
            self._apply_external(deal)
            return
        child = min(alive, key=lambda t: abs(t.order.created.price - deal.price))
        self._fill(child, deal)
        if child.order.status == bt.Order.Completed:
            for other in alive:
                if other is not child:
                    self._finish(other, bt.Order.Canceled)
            self._brackets.pop(deal.position_id, None)

    def _on_order(self, snap: OrderSnap, history: bool, removed: bool) -> None:
        tracked = self._tracked_for(snap.ticket, snap.comment)
        if tracked is None:
            return
        order = tracked.order
        if not (history or removed):
            if order.status == bt.Order.Submitted and snap.state in (1, 3):
                order.accept(self)
                self.notify(order)
            return
        status = MAP_FINAL_STATE.get(snap.state)
        if status is None or order.status not in _ALIVE:
            return
        tracked.final_status = status
        tracked.final_volume = snap.volume_initial - snap.volume_current
        self._settle_final(tracked)

    def _settle_final(self, tracked: _Tracked) -> None:
        """Apply a final MT5 state once every deal of the order has been applied."""
        order = tracked.order
        info = self._symbol_info(tracked.symbol)
        executed = parsing.volume_to_size(tracked.final_volume, info, in_lots=self.p.size_in_lots)
        if abs(order.executed.size) + 1e-9 < executed or tracked.final_status is None:
            return
        self._finish(tracked, tracked.final_status)

    def _finish(self, tracked: _Tracked, status: int) -> None:
        order = tracked.order
        if order.status not in _ALIVE:
            return
        tracked.final_status = None
        if status == bt.Order.Canceled:
            order.cancel()
        elif status == bt.Order.Expired:
            order.status = bt.Order.Expired
        elif status == bt.Order.Margin:
            order.margin()
        elif status == bt.Order.Completed:
            order.completed()
        else:
            order.reject(self)
        self.notify(order)
        for child in tracked.children + tracked.emulated_children:
            if not order.executed.size:
                self._finish(self._orders[child.ref], bt.Order.Canceled)
        self._oco_trigger(order)

    def _oco_trigger(self, order: Any) -> None:
        group = self._oco.get(order.ref)
        if not group or order.status in (bt.Order.Submitted, bt.Order.Accepted):
            return
        for member in group:
            self._oco.pop(member.ref, None)
            if member is order:
                continue
            other = self._orders.get(member.ref)
            if other is not None and other.order.status in _ALIVE:
                other.cancel_requested = True
                if other.tickets:
                    self._cancel_tickets(other)

    def _on_position(self, position: Any) -> None:
        symbol, ticket, volume, price = parsing.parse_position(position)
        if abs(volume) < 1e-12:
            self._mt5_positions.pop(ticket, None)
            if ticket in self._brackets:
                self._closed_brackets.add(ticket)
        else:
            self._mt5_positions[ticket] = (symbol, volume, price)

    def _reconcile(self) -> None:
        """After a reconnect: resend what never left, replay the server's deals and order states."""
        retry, self._retry = self._retry, []
        for tracked, request in retry:
            tracked.parts_in_flight -= 1
            self._dispatch(tracked, request)
        self._fetch_server_state()

    def _fetch_server_state(self) -> None:
        """Replay the server's deals, history orders and open orders, then ``("reconciled", fetch number)``.

        The marker is queued only when the whole fetch succeeded. It settles the orders whose outcome was
        already unknown when this fetch started: their request's link was gone by then, so the fetch shows
        everything the request did.
        """
        self._fetches += 1
        fetch_id = self._fetches
        # a day of margin: the server's clock may be behind UTC; deals already seen are skipped
        start = _dt.datetime.fromtimestamp(self._start_ms / 1000 - 86400, _dt.UTC)
        broker_queue = self.store.broker_queue

        async def fetch() -> None:
            client = self.store.client
            deals, orders = await client.history(start, None)  # up to the server's now (SPEC 5.7)
            for deal in deals:
                broker_queue.put(("deal", parsing.parse_deal(deal)))
            for order in orders:
                broker_queue.put(("order", parsing.parse_order(order), True, True))
            for order in await client.orders():
                broker_queue.put(("order", parsing.parse_order(order), False, False))
            broker_queue.put(("reconciled", fetch_id))

        self.store.spawn(fetch(), self._log_failure)

    def _settle_unknown(self, fetch_id: int) -> None:
        """The server's state of fetch ``fetch_id`` is replayed: settle the orders whose outcome was unknown.

        An order the replay found (by ticket or comment) is known again; a cancel asked meanwhile goes to
        the server. An order it did not find never reached the server: a cancel asked meanwhile finishes
        it; otherwise it stays Submitted (only a server answer rejects an order) and a later cancel
        finishes it at once.
        """
        for tracked in list(self._orders.values()):
            if not tracked.outcome_unknown or tracked.unknown_since >= fetch_id:
                continue
            tracked.outcome_unknown = False
            if tracked.order.status not in _ALIVE:
                continue
            if tracked.tickets:
                if tracked.cancel_requested:
                    self._cancel_tickets(tracked)
            elif not tracked.parts_in_flight:
                self.store.put_notification("order not on the server", ref=tracked.order.ref)
                if tracked.cancel_requested:
                    self._finish(tracked, bt.Order.Canceled)

    # --- helpers --------------------------------------------------------------------------------------

    def _parent_of(self, tracked: _Tracked) -> _Tracked | None:
        parent = tracked.order.parent
        if parent is None:
            return None
        parent_tracked = self._orders.get(parent.ref)
        if parent_tracked is not None and any(c.ref == tracked.order.ref for c in parent_tracked.children):
            return parent_tracked
        return None

    def _net(self, symbol: str) -> tuple[float, float]:
        size = value = 0.0
        for pos_symbol, volume, price in self._mt5_positions.values():
            if pos_symbol == symbol:
                size += volume
                value += volume * price
        return size, (value / size if size else 0.0)

    def _symbol_of(self, data: Any) -> str:
        name = getattr(getattr(data, "p", None), "dataname", None)
        return str(name if isinstance(name, str) else data._name)

    def _symbol_info(self, symbol: str) -> Any:
        return self.store.symbol(symbol)

    def _contract_size(self, symbol: str) -> float:
        return parsing.contract_size(self._symbol_info(symbol))
