"""A simulated MT5 access server that speaks the web terminal protocol (``pymt5_core.sim``).

Start one with :class:`SimServer`::

    async with SimServer(seed=1, speed=60) as sim:
        ...  # connect a client to sim.url, log in with sim.demo_account

or from the command line with ``python -m pymt5_core.sim`` (see :mod:`pymt5_core.sim.cli`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymt5_core.sim.faults import FaultPlan
from pymt5_core.sim.server import PATH, DemoAccount, SimServer

if TYPE_CHECKING:
    from pymt5_core.sim.accounts import AccountConfig

__all__ = ["PATH", "AccountConfig", "DemoAccount", "FaultPlan", "SimServer", "VirtualClock"]


def __getattr__(name: str) -> Any:
    # Lazy re-exports of the market and account packages (they import numpy-heavy modules).
    if name == "VirtualClock":
        from pymt5_core.sim.market.clock import VirtualClock

        return VirtualClock
    if name == "AccountConfig":
        from pymt5_core.sim.accounts import AccountConfig

        return AccountConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
