"""Several accounts at once: :class:`ClientPool` keeps one :class:`MT5Client` (one session) per login."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

from pymt5_core._validate import check_credentials, check_login
from pymt5_core.client import MT5Client
from pymt5_core.errors import InvalidRequest
from pymt5_core.models import AccountInfo

__all__ = ["ClientPool"]

T = TypeVar("T")


@dataclass
class _Entry:
    client: MT5Client
    login: int
    password: str = field(repr=False)
    otp: str | None = field(default=None, repr=False)


class ClientPool:
    """A set of clients keyed by account number, each with its own connection and state mirror.

    Example::

        async with ClientPool() as pool:
            pool.add(url, 1001, "pw1")
            pool.add(url, 1002, "pw2")
            await pool.connect()
            equities = await pool.gather(lambda c: c.account())
    """

    def __init__(self) -> None:
        self._entries: dict[int, _Entry] = {}

    def __repr__(self) -> str:
        return f"<ClientPool logins={sorted(self._entries)}>"

    def add(self, url: str, login: int, password: str, *, otp: str | None = None, **kwargs: Any) -> MT5Client:
        """Add an account; the client is created now and connected by :meth:`connect`.

        Args:
            url: the endpoint of the account's server.
            login: the account number (the pool's key).
            password: the password.
            otp: a one-time password, when needed.
            **kwargs: keyword arguments of :class:`MT5Client`.

        Returns:
            The account's client.

        Raises:
            InvalidRequest: a malformed login, password or OTP, or the login is already in the pool.
        """
        login = check_login(login)
        password, otp = check_credentials(password, otp)
        if login in self._entries:
            raise InvalidRequest(f"account {login} is already in the pool")
        client = MT5Client(url, **kwargs)
        self._entries[login] = _Entry(client, login, password, otp)
        return client

    def __getitem__(self, login: int) -> MT5Client:
        return self._entries[login].client

    def __contains__(self, login: object) -> bool:
        return login in self._entries

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def clients(self) -> dict[int, MT5Client]:
        """The clients by account number."""
        return {login: e.client for login, e in self._entries.items()}

    async def connect(self) -> dict[int, AccountInfo]:
        """Connect and log in every account concurrently.

        Returns:
            The account of every login.

        Raises:
            ExceptionGroup: one or more accounts failed (the others stay connected).
        """

        async def one(entry: _Entry) -> AccountInfo:
            await entry.client.connect()
            return await entry.client.login(entry.login, entry.password, otp=entry.otp)

        entries = list(self._entries.values())
        results = await asyncio.gather(*(one(e) for e in entries), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise ExceptionGroup("some accounts failed to log in", [e for e in errors if isinstance(e, Exception)])
        return {e.login: r for e, r in zip(entries, results, strict=True) if isinstance(r, AccountInfo)}

    async def gather(self, operation: Callable[[MT5Client], Awaitable[T]]) -> dict[int, T]:
        """Run ``operation(client)`` for every account concurrently; return the results by login."""
        logins = list(self._entries)
        results = await asyncio.gather(*(operation(self._entries[login].client) for login in logins))
        return dict(zip(logins, results, strict=True))

    async def remove(self, login: int) -> None:
        """Close an account's client and drop it from the pool."""
        entry = self._entries.pop(login)
        await entry.client.disconnect()

    async def close(self) -> None:
        """Close every client."""
        await asyncio.gather(*(e.client.disconnect() for e in self._entries.values()), return_exceptions=True)

    async def __aenter__(self) -> ClientPool:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
