"""The ``PYMT5_DEBUG`` checks switched on or off for one test, whatever the environment says."""

from __future__ import annotations

import pytest

from pymt5_core.wire import debug


@pytest.fixture
def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """The debug checks on."""
    monkeypatch.setattr(debug, "ENABLED", True)


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    """The debug checks off: bodies decode as the official reader decodes them."""
    monkeypatch.setattr(debug, "ENABLED", False)
