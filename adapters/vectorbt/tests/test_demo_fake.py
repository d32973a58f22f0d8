from __future__ import annotations

from typing import Any

from pymt5_vectorbt import data as data_module
from pymt5_vectorbt.demo import demo_section


def test_demo_section_prints_stats_and_saves_a_png(fake_client: Any, monkeypatch: Any, tmp_path: Any) -> None:
    monkeypatch.setattr(data_module, "_connect", lambda url, login, password, options: fake_client)
    lines: list[str] = []
    result = demo_section("ws://x", 1, "pw", tmp_path / "out" / "bt.png", days=1000, say=lines.append)
    assert result["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(result["stats"].columns) == ["EURUSD", "GBPUSD"]
    assert any("Total Return [%]" in line for line in lines)
    assert fake_client.closed
