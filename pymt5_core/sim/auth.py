"""Login checks of the simulated access server: passwords, password blobs, one-time passwords, lock-out.

Rules (SPEC §5.2 and its simulator guidance):

* A login carries either the plain master (or investor) password or a 160-byte blob that an earlier
  successful login of the same account returned. Every successful login returns a fresh random blob
  (remembered per login, earlier ones stay valid) and a fresh non-zero session id.
* An account with an OTP (a fixed code from its :class:`~pymt5_core.sim.accounts.AccountConfig`, or a
  TOTP generator bound with command 43) is answered with code 5 until the login carries the right code.
  A blob login skips the OTP: the blob proves that an earlier login passed it, which is what lets the
  official client reconnect on its own.
* Lock-out (:class:`LoginLimits`, windows in simulator time): after ``max_failures`` failed logins of one
  account within ``window_ms``, every login of that account is answered with code 3 *without checking*
  until the window has passed since the last counted failure. The same holds per client address
  (``peer_max_failures`` within ``peer_window_ms``, whatever the accounts tried), which stops one peer
  from trying a password on many accounts. A refusal during a lock-out is answered after
  ``refusal_delay`` seconds. Failed password checks of the OTP connection (command 43) count too.

Nothing here logs or shows a password, OTP or blob.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import struct
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["FAILURE_WINDOW_MS", "MAX_FAILURES", "Authenticator", "LoginLimits", "LoginOutcome", "totp"]

#: Failed logins of one account that trigger the lock-out.
MAX_FAILURES = 5
#: The lock-out window, in simulator milliseconds.
FAILURE_WINDOW_MS = 60_000

_OK, _INVALID, _OTP = 0, 3, 5
_INVALID_OTP = 201
_BLOB_SIZE = 160
#: Failure records of this many client addresses trigger a sweep of the expired ones.
_PEERS_SWEEP = 4096


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """How failed logins are throttled (see the module docstring); a ``*max_failures`` of 0 disables that limit.

    Windows are simulator milliseconds; ``refusal_delay`` is real seconds.
    """

    max_failures: int = MAX_FAILURES
    window_ms: int = FAILURE_WINDOW_MS
    peer_max_failures: int = 20
    peer_window_ms: int = FAILURE_WINDOW_MS
    refusal_delay: float = 0.5

    def __post_init__(self) -> None:
        if min(self.max_failures, self.window_ms, self.peer_max_failures, self.peer_window_ms) < 0:
            raise ValueError("login limits cannot be negative")
        if self.refusal_delay < 0:
            raise ValueError("refusal_delay cannot be negative")


class AccountLike(Protocol):
    """What the authenticator needs to know about an account."""

    @property
    def login(self) -> int: ...
    @property
    def password(self) -> str: ...
    @property
    def investor_password(self) -> str: ...
    @property
    def otp(self) -> str | None: ...


def totp(secret: str, unix_ms: int, *, digits: int = 6, step_s: int = 30) -> str:
    """An RFC 6238 time-based one-time password (HMAC-SHA1) for a base32 ``secret`` at ``unix_ms``."""
    key = base64.b32decode(secret.strip().replace(" ", "").upper() + "=" * (-len(secret.strip()) % 8))
    digest = hmac.digest(key, struct.pack(">Q", unix_ms // 1000 // step_s), "sha1")
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**digits
    return str(code).zfill(digits)


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    """The answer to a login: a frame code, and on success the blob, session id and access level."""

    code: int
    login: int = 0
    blob: bytes = field(default=b"", repr=False)
    session: int = 0
    investor: bool = False
    #: Seconds to wait before answering (a refusal during a lock-out).
    delay: float = 0.0


class _FailureWindow:
    """Times of recent failures; full once ``limit`` of them fall within ``window_ms``."""

    __slots__ = ("_times",)

    def __init__(self) -> None:
        self._times: deque[int] = deque()

    def full(self, now: int, limit: int, window_ms: int) -> bool:
        while self._times and now - self._times[0] >= window_ms:
            self._times.popleft()
        return 0 < limit <= len(self._times)

    def add(self, now: int) -> None:
        self._times.append(now)

    def clear(self) -> None:
        self._times.clear()


@dataclass
class _Credentials:
    login: int
    password: str = field(repr=False)
    investor_password: str = field(repr=False)
    otp: str | None = field(repr=False)
    totp_secret: str | None = field(default=None, repr=False)
    blobs: dict[bytes, bool] = field(default_factory=dict, repr=False)  # blob -> investor access
    failures: _FailureWindow = field(default_factory=_FailureWindow)


class Authenticator:
    """The account credentials of one simulator and the checks made on login (see the module docstring).

    Args:
        accounts: the initial accounts.
        now_ms: the simulator clock (lock-out windows are simulator time).
        limits: the lock-out rules; replace :attr:`limits` at any time to change them.
    """

    def __init__(
        self, accounts: Iterable[AccountLike], now_ms: Callable[[], int], limits: LoginLimits | None = None
    ) -> None:
        self._now_ms = now_ms
        self.limits = limits if limits is not None else LoginLimits()
        self._accounts: dict[int, _Credentials] = {}
        self._peers: dict[str, _FailureWindow] = {}
        for account in accounts:
            self.add(account)

    def __repr__(self) -> str:
        return f"<Authenticator {len(self._accounts)} accounts>"

    def __contains__(self, login: object) -> bool:
        return login in self._accounts

    def add(self, account: AccountLike) -> None:
        """Register (or replace) an account."""
        self._accounts[account.login] = _Credentials(
            account.login, account.password, account.investor_password or "", account.otp or None
        )

    def login(self, request: Mapping[str, Any], peer: str = "") -> LoginOutcome:
        """Check a decoded login request (SPEC §5.2) from client address ``peer`` and answer it."""
        login = int(request["login"])
        creds = self._accounts.get(login)
        now = self._now_ms()
        if self._locked(creds, peer, now):
            return LoginOutcome(_INVALID, delay=self.limits.refusal_delay)  # not even checked
        if creds is None:
            self._failed(None, peer, now)
            return LoginOutcome(_INVALID)
        blob = bytes(request.get("password_blob") or b"")
        investor: bool | None
        if any(blob):
            investor = creds.blobs.get(blob)
            via_blob = investor is not None
        else:
            investor = self._password_access(creds, str(request.get("password") or ""))
            via_blob = False
        if investor is None:
            self._failed(creds, peer, now)
            return LoginOutcome(_INVALID)
        if not via_blob and self._needs_otp(creds):
            otp = str(request.get("otp") or "")
            if not otp:
                return LoginOutcome(_OTP)
            if not self._otp_matches(creds, otp, now):
                self._failed(creds, peer, now)
                return LoginOutcome(_OTP)
        new_blob = secrets.token_bytes(_BLOB_SIZE)
        creds.blobs[new_blob] = investor
        creds.failures.clear()  # the peer's count stays: one good account must not unlock guessing at others
        return LoginOutcome(_OK, login, new_blob, secrets.randbits(63) | 1, investor)

    def verify(self, login: int, password: str = "", blob: bytes = b"", peer: str = "") -> bool | None:
        """Check a password or blob without logging in: None when wrong, else whether it is investor access.

        A wrong password counts as a failed login, and nothing is checked during a lock-out (None).
        """
        creds = self._accounts.get(login)
        now = self._now_ms()
        if self._locked(creds, peer, now):
            return None
        if creds is None:
            self._failed(None, peer, now)
            return None
        access = creds.blobs.get(bytes(blob)) if any(blob) else self._password_access(creds, password)
        if access is None:
            self._failed(creds, peer, now)
        return access

    def _locked(self, creds: _Credentials | None, peer: str, now: int) -> bool:
        limits = self.limits
        if creds is not None and creds.failures.full(now, limits.max_failures, limits.window_ms):
            return True
        window = self._peers.get(peer)
        return window is not None and window.full(now, limits.peer_max_failures, limits.peer_window_ms)

    def _failed(self, creds: _Credentials | None, peer: str, now: int) -> None:
        if creds is not None:
            creds.failures.add(now)
        window = self._peers.get(peer)
        if window is None:
            if len(self._peers) >= _PEERS_SWEEP:  # forget addresses whose failures have all expired
                for key in [k for k, w in self._peers.items() if not w.full(now, 1, self.limits.peer_window_ms)]:
                    del self._peers[key]
            window = self._peers[peer] = _FailureWindow()
        window.add(now)

    def change_password(self, login: int, old: str, new: str, investor: bool) -> int:
        """Change the master (or investor) password; returns 0, or 3 when ``old`` is not the current one."""
        creds = self._accounts.get(login)
        if creds is None:
            return _INVALID
        current = creds.investor_password if investor else creds.password
        if not hmac.compare_digest(current.encode(), old.encode()):
            return _INVALID
        if investor:
            creds.investor_password = new
        else:
            creds.password = new
        return _OK

    def bind_otp(self, login: int, secret: str, check: str) -> int:
        """Bind a TOTP generator; ``check`` must be its current code. Returns a frame code (0 or 201)."""
        creds = self._accounts[login]
        try:
            expected = totp(secret, self._now_ms())
        except (ValueError, TypeError):
            return _INVALID_OTP
        if not hmac.compare_digest(expected, check.strip()):
            return _INVALID_OTP
        creds.totp_secret = secret
        return _OK

    def unbind_otp(self, login: int, otp: str) -> int:
        """Remove a bound TOTP generator; ``otp`` must be its current code. Returns 0 or 201."""
        creds = self._accounts[login]
        if creds.totp_secret is None:
            return _OK
        if not self._otp_matches(creds, otp, self._now_ms()):
            return _INVALID_OTP
        creds.totp_secret = None
        return _OK

    @staticmethod
    def _password_access(creds: _Credentials, password: str) -> bool | None:
        if not password:
            return None
        if hmac.compare_digest(password.encode(), creds.password.encode()):
            return False
        if creds.investor_password and hmac.compare_digest(password.encode(), creds.investor_password.encode()):
            return True
        return None

    @staticmethod
    def _needs_otp(creds: _Credentials) -> bool:
        return creds.otp is not None or creds.totp_secret is not None

    @staticmethod
    def _otp_matches(creds: _Credentials, otp: str, now_ms: int) -> bool:
        if creds.otp is not None and hmac.compare_digest(creds.otp.encode(), otp.encode()):
            return True
        if creds.totp_secret is not None:
            # accept the previous and the next 30 s step too, as authenticators drift
            return any(
                hmac.compare_digest(totp(creds.totp_secret, now_ms + k * 30_000), otp) for k in (-1, 0, 1)
            )
        return False
