"""Account configuration: defaults, JSON/TOML loading, secrets kept out of repr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pymt5_core.sim.accounts import AccountConfig, default_accounts, load_accounts


def test_default_accounts_cover_the_documented_cases() -> None:
    accounts = {a.login: a for a in default_accounts()}
    demo = accounts[5000001]
    assert (demo.password, demo.currency, demo.is_hedging, demo.otp) == ("Demo1234!", "USD", True, None)
    assert any(a.currency == "EUR" and a.margin_mode == 0 for a in accounts.values())
    assert any(a.currency == "JPY" and a.leverage == 500 and a.is_hedging for a in accounts.values())
    assert any(a.otp for a in accounts.values())


def test_repr_hides_secrets() -> None:
    account = AccountConfig(1, "s3cret-pw", "inv-pw", otp="424242")
    text = repr(account)
    assert "s3cret" not in text and "inv-pw" not in text and "424242" not in text and "login=1" in text


def test_load_json_and_toml(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps([{"login": "7", "password": "x", "margin_mode": "netting"}]))
    (tmp_path / "a.toml").write_text('[[accounts]]\nlogin = 8\npassword = "y"\ncurrency = "EUR"\notp = "1"\n')
    (j,) = load_accounts(tmp_path / "a.json")
    (t,) = load_accounts(tmp_path / "a.toml")
    assert (j.login, j.margin_mode, j.is_hedging) == (7, 0, False)
    assert (t.login, t.currency, t.otp, t.is_hedging) == (8, "EUR", "1", True)


def test_load_rejects_bad_files(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"nothing": 1}))
    with pytest.raises(ValueError, match="list of accounts"):
        load_accounts(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="unknown account keys"):
        AccountConfig.from_mapping({"login": 1, "password": "x", "pin": 2})
    with pytest.raises(ValueError, match="margin mode"):
        AccountConfig.from_mapping({"login": 1, "password": "x", "margin_mode": "spread-bet"})
