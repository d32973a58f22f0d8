"""A blocking facade: :class:`MT5ClientSync` runs an :class:`MT5Client` on its own event-loop thread.

Nothing is written twice: the methods of :class:`MT5ClientSync` are generated from :class:`MT5Client`.
Each coroutine method becomes a blocking method that submits the coroutine to the background loop and
waits for its result; :meth:`MT5Client.ticks` and :meth:`MT5Client.book` become blocking iterators. The
caller's thread may itself run an event loop (Jupyter, Backtrader inside asyncio): the client never
touches it, so no ``nest_asyncio`` is needed.

The one rule: callbacks registered with :meth:`on` run on the client's loop thread; they must not call
blocking methods of the same client (that would wait on itself, and raises :class:`RuntimeError`).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Generic, TypeVar

from pymt5_core._validate import check_credentials, check_login
from pymt5_core.client import BookStream, MT5Client, TickStream
from pymt5_core.models import AccountInfo

__all__ = ["BlockingStream", "LoopThread", "MT5ClientSync", "connect"]

T = TypeVar("T")


class LoopThread:
    """An asyncio event loop running forever on a daemon thread.

    :meth:`stop` ends it: the loop stops, every task still running on it is cancelled and awaited, and the
    loop is closed by its own thread, so no task is ever destroyed while pending.
    """

    def __init__(self, name: str = "pymt5-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._lock = threading.Lock()
        self._closing = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()
        self._started.wait()

    @property
    def closing(self) -> bool:
        """True once :meth:`stop` was called: nothing more can be run."""
        return self._closing

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        try:
            self.loop.run_forever()
        finally:
            try:
                self.loop.run_until_complete(_cancel_all(_STOP_TIMEOUT))
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            finally:
                self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and block until it finishes; its exception is re-raised here.

        Raises:
            RuntimeError: called from the loop thread itself (it would wait forever), or after :meth:`stop`.
        """
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("blocking client methods cannot be called from the client's own loop thread "
                               "(e.g. inside an event callback); use the async client there")
        with self._lock:  # no submission may slip in between stop() and the final sweep of the loop
            if self._closing:
                coro.close()
                raise RuntimeError("the client is closed")
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result()

    def stop(self) -> None:
        """Stop the loop; from another thread, also wait until it is closed (idempotent).

        Called from the loop thread (a callback), it only asks the loop to stop; the thread then cancels
        what is left and closes the loop by itself once the callback has returned.
        """
        with self._lock:
            first = not self._closing
            self._closing = True
        if first:
            self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self.thread:
            self.thread.join()


#: Seconds the cancelled leftovers of a stopping loop get to end.
_STOP_TIMEOUT = 5.0


async def _cancel_all(timeout: float) -> None:
    """Cancel every other task of the loop and wait for them, so nothing is left half-closed."""
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)


class BlockingStream(Generic[T]):
    """A blocking iterator over a tick or book stream; items are fetched from the loop in batches."""

    def __init__(self, runner: LoopThread, stream: TickStream | BookStream) -> None:
        self._runner = runner
        self._stream: Any = stream
        self._buffer: deque[T] = deque()

    def __iter__(self) -> BlockingStream[T]:
        return self

    def __next__(self) -> T:
        if not self._buffer:
            batch: list[T] = self._runner.run(self._stream.next_batch())
            if not batch:
                raise StopIteration
            self._buffer.extend(batch)
        return self._buffer.popleft()

    def close(self) -> None:
        """Unsubscribe and end the iteration."""
        if not self._runner.closing:
            self._runner.run(self._stream.aclose())

    def __enter__(self) -> BlockingStream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _new_client(url: str, kwargs: dict[str, Any]) -> MT5Client:
    return MT5Client(url, **kwargs)


class MT5ClientSync:
    """The blocking twin of :class:`MT5Client`: same methods, same names, same arguments.

    Args:
        url: the endpoint.
        **kwargs: the keyword arguments of :class:`MT5Client`.

    Use it as a context manager (connects on enter, closes on exit)::

        with MT5ClientSync(url) as client:
            client.login(login, password)
            df = client.bars_df("EURUSD", "H1", start, end)
            for tick in client.ticks("EURUSD"):
                ...
    """

    def __init__(self, url: str, **kwargs: Any) -> None:
        self._runner = LoopThread()
        self._close_lock = threading.Lock()
        try:
            self._client: MT5Client = self._runner.run(_new_client(url, kwargs))
        except BaseException:
            self._runner.stop()
            raise

    def __repr__(self) -> str:
        return f"<MT5ClientSync {self._client!r}>"

    @property
    def client(self) -> MT5Client:
        """The asynchronous client (use it only on :attr:`loop`)."""
        return self._client

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The background event loop."""
        return self._runner.loop

    def __getattr__(self, name: str) -> Any:
        # Attributes that are not generated methods (properties, mirror, session) come from the client.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._client, name)

    def __enter__(self) -> MT5ClientSync:
        self._runner.run(self._client.connect())
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self, position_ticket: int | None = None, volume: float | None = None, *,
              deviation: int = 10) -> Any:
        """Close a position; without a ticket, close the client and stop its thread (see :meth:`MT5Client.close`).

        Closing the client returns once the connection is closed and the background thread has ended. It is
        idempotent and may be called from any thread; from an event callback (the loop thread) it cannot
        wait, so it starts the close and returns at once.
        """
        if position_ticket is not None:
            return self._runner.run(self._client.close(position_ticket, volume, deviation=deviation))
        runner = self._runner
        if threading.current_thread() is runner.thread:
            if not runner.closing:
                task = runner.loop.create_task(self._client.disconnect(), name="mt5-sync-close")
                task.add_done_callback(lambda _: runner.stop())
            return None
        with self._close_lock:
            try:
                if not runner.closing:
                    runner.run(self._client.disconnect())
            finally:
                runner.stop()
        return None

    def disconnect(self) -> None:
        """Close the client and stop its thread."""
        self.close()


def _blocking(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: MT5ClientSync, *args: Any, **kwargs: Any) -> Any:
        return self._runner.run(getattr(self._client, name)(*args, **kwargs))

    return call


def _iterator(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: MT5ClientSync, *args: Any, **kwargs: Any) -> BlockingStream[Any]:
        return BlockingStream(self._runner, getattr(self._client, name)(*args, **kwargs))

    return call


def _on_loop(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    async def run(client: MT5Client, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return getattr(client, name)(*args, **kwargs)

    @functools.wraps(method)
    def call(self: MT5ClientSync, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is self._runner.thread:
            return getattr(self._client, name)(*args, **kwargs)
        return self._runner.run(run(self._client, args, kwargs))

    return call


_STREAMS = frozenset({"ticks", "book"})


def _generate() -> None:
    """Give :class:`MT5ClientSync` a blocking twin of every public method of :class:`MT5Client`."""
    for name, member in inspect.getmembers(MT5Client, inspect.isfunction):
        if name.startswith("_") or name in vars(MT5ClientSync):
            continue
        if name in _STREAMS:
            setattr(MT5ClientSync, name, _iterator(name, member))
        elif inspect.iscoroutinefunction(member):
            setattr(MT5ClientSync, name, _blocking(name, member))
        else:
            setattr(MT5ClientSync, name, _on_loop(name, member))


_generate()


def connect(url: str, login: int, password: str, *, otp: str | None = None, **kwargs: Any) -> MT5ClientSync:
    """Connect and log in; return the blocking client.

    Args:
        url: the endpoint.
        login: the account number.
        password: the password.
        otp: a one-time password, when needed.
        **kwargs: the keyword arguments of :class:`MT5Client`.

    Raises:
        InvalidRequest: a malformed URL, login, password or option (before connecting).
        AuthError: the login was refused. OSError, ConnectionLost: the connection failed.
    """
    login = check_login(login)
    check_credentials(password)
    client = MT5ClientSync(url, **kwargs)
    try:
        client._runner.run(client._client.connect())
        account: AccountInfo = client._runner.run(client._client.login(login, password, otp=otp))
        del account
    except BaseException:
        client.close()
        raise
    return client
