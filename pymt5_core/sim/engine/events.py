"""What the engine hands to the server: the answer to a trade request and the frames to push."""

from __future__ import annotations

from dataclasses import dataclass, field

from pymt5_core.wire.messages.trading import DealUpdate, OrderUpdate
from pymt5_core.wire.records import Record

__all__ = ["AccountEvent", "EngineEvent", "Submission", "TradeResultEvent"]


@dataclass(frozen=True, slots=True)
class TradeResultEvent:
    """Push 19: the request echo (same ``action_id``) and the TradeResult fields."""

    echo: Record
    result: Record


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """Push 14 for ``login``: the account body (``TradingEngine.account_body``) changed."""

    login: int


#: One frame for one login: a push 10 (a single record, or several records of one kind forming one frame),
#: a push 19 or a push 14 marker.
EngineEvent = tuple[int, OrderUpdate | list[OrderUpdate] | DealUpdate | list[DealUpdate] | TradeResultEvent
                    | AccountEvent]


@dataclass(slots=True)
class Submission:
    """The outcome of :meth:`TradingEngine.submit`.

    ``status`` is the command 12 answer: 0 when the request was taken (its result is the push 19 among
    ``events``), otherwise the return code of an immediate failure, with no events.
    """

    status: int
    events: list[EngineEvent] = field(default_factory=list)

    @property
    def result(self) -> Record | None:
        """The TradeResult of the push 19 among the events, if any."""
        for _, ev in self.events:
            if isinstance(ev, TradeResultEvent):
                return ev.result
        return None

    @property
    def retcode(self) -> int:
        """The final return code: ``status`` when non-zero, else the push 19 retcode."""
        result = self.result
        return self.status or (int(result["retcode"]) if result is not None else 0)
