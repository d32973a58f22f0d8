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
