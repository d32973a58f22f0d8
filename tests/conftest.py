"""Shared fixtures: the official test vectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

VECTORS = Path(__file__).parent / "data" / "vectors"


def load_vector(name: str) -> Any:
    """Load one vector file by its stem (e.g. ``"tick_record"``)."""
    return json.loads((VECTORS / f"{name}.json").read_text())


@pytest.fixture
def vector() -> Any:
    return load_vector


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pymt5 fault injection (tests/reliability)")
    group.addoption("--fault-runs", type=int, default=None,
                    help="number of seeded fault-injection runs (default 200, or $PYMT5_FAULT_RUNS)")
    group.addoption("--fault-seed", type=int, default=None,
                    help="replay the fault-injection run of one seed (or $PYMT5_FAULT_SEED)")
