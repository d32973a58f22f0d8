"""pymt5-core: MetaTrader 5 from any OS over the web terminal protocol."""

__version__ = "0.1.0"
