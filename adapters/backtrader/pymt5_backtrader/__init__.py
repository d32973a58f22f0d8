"""Backtrader adapter for pymt5-core: MT5Store, MT5Broker and MT5Data."""
