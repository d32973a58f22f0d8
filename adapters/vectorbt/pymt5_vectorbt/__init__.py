"""vectorbt adapter for pymt5-core: MT5Data."""
