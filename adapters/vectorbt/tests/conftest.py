"""Fixtures for the vectorbt adapter: a fake client (always) and the simulator (when it is there)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).parent


def _load_fakes() -> ModuleType:
    # Tests run with --import-mode=importlib, so the test folder is not importable by name.
    spec = importlib.util.spec_from_file_location("pymt5_vectorbt_test_fakes", HERE / "fakes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


fakes = _load_fakes()


@pytest.fixture
def fake_client() -> object:
    """A fake client whose clock is Friday 2024-03-08 20:30 UTC (EURUSD still trading)."""
    return fakes.FakeClient("2024-03-08 20:30:00+00:00")
