"""Bad input to ClientPool: refused with InvalidRequest when the account is added, before any connection."""

from __future__ import annotations

from typing import Any

import pytest

from pymt5_core.errors import InvalidRequest
from pymt5_core.pool import ClientPool

URL = "ws://127.0.0.1:1/terminal"  # nothing listens there: a check that let anything through would fail later


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (("ftp://host", 1, "pw"), {}, "url"),
    ((URL, 0, "pw"), {}, "login"),
    ((URL, "abc", "pw"), {}, "login"),
    ((URL, 1.5, "pw"), {}, "login"),
    ((URL, 1, ""), {}, "password"),
    ((URL, 1, None), {}, "password"),
    ((URL, 1, b"pw"), {}, "password"),
    ((URL, 1, "pw"), {"otp": 123456}, "otp"),
    ((URL, 1, "pw"), {"timeout": -1}, "timeout"),
], ids=["url", "login-zero", "login-text", "login-float", "password-empty", "password-none", "password-bytes",
        "otp-int", "option"])
def test_add_refuses_bad_arguments(args: tuple[Any, ...], kwargs: dict[str, Any], message: str) -> None:
    pool = ClientPool()
    with pytest.raises(InvalidRequest, match=message) as info:
        pool.add(*args, **kwargs)
    assert "pw" not in str(info.value)
    assert len(pool) == 0


def test_the_same_account_twice_is_refused_and_a_digit_string_login_is_the_same_account() -> None:
    pool = ClientPool()
    pool.add(URL, 5000001, "pw")
    with pytest.raises(InvalidRequest, match="already in the pool"):
        pool.add(URL, "5000001", "pw")
    assert list(pool) == [5000001]
