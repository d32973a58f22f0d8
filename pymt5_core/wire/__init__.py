"""Sans-I/O wire layer of the MT5 web terminal protocol: bytes in, values out (no asyncio, no sockets)."""

from pymt5_core.wire.layouts import LAYOUTS

__all__ = ["LAYOUTS"]
