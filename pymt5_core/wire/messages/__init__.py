"""Readers and builders for every message body the official client sends or reads (SPEC §4-§5, §10).

Every builder has a matching reader, so the client and the simulator share one codec. Single records are
dicts keyed by SPEC field names; arrays of records (bars, ticks, deals, orders, positions, book levels)
are numpy structured arrays decoded in one step.
"""

from pymt5_core.wire.messages.account import *  # noqa: F403
from pymt5_core.wire.messages.account import __all__ as _account
from pymt5_core.wire.messages.market import *  # noqa: F403
from pymt5_core.wire.messages.market import __all__ as _market
from pymt5_core.wire.messages.session import *  # noqa: F403
from pymt5_core.wire.messages.session import __all__ as _session
from pymt5_core.wire.messages.trading import *  # noqa: F403
from pymt5_core.wire.messages.trading import __all__ as _trading
from pymt5_core.wire.records import build_id_list, read_id_list

__all__ = [*_account, *_market, *_session, *_trading, "build_id_list", "read_id_list"]
