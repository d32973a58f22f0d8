"""Passwords, password blobs and one-time passwords never leak: not into logs, reprs, exceptions, dump files
or anything else written to disk.

A full session runs against the simulator with every logger at DEBUG: a password login, a trade, a
reconnect (which logs in again with the blob), a failed login, a login that needs an OTP without, with a
wrong and with the right one, and a pool. Every blob the simulator issues is recorded on its side, so the
scans know them. The ``pymt5 dump`` proxy and CLI record the same kinds of sessions to files that are
scanned too, and the blocking entry points run with ``HOME``, the cache directories and the working
directory pointed at empty folders, which must stay empty.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import pymt5_core.mt5 as mt5
from pymt5_core import MT5Client, cli
from pymt5_core.backoff import backoff
from pymt5_core.download import download
from pymt5_core.dump import REDACTED, DumpProxy, JsonlSink
from pymt5_core.errors import AuthError, ConnectionLost, OTPRequired
from pymt5_core.events import ConnectionState, SessionState
from pymt5_core.pool import ClientPool
from pymt5_core.sim import SimServer, VirtualClock
from pymt5_core.sim.accounts import default_accounts
from pymt5_core.sync import MT5ClientSync, connect
from pymt5_core.wire.enums import Command
from tests.security.conftest import sim_in_thread
from tests.security.secrets_scan import Secrets, record_issued_blobs

START_MS = 1_795_521_600_000  # Wednesday 2026-11-25 12:00 UTC: markets open
DEMO, DEMO_PASSWORD = 5000001, "Demo1234!"
OTP_LOGIN, OTP_PASSWORD, OTP_CODE = 5000004, "Secure1234!", "123456"
WRONG_PASSWORD, WRONG_OTP = "Wr0ng-Sentinel-pw", "987650"


def all_secrets() -> Secrets:
    secrets = Secrets()
    secrets.password(DEMO_PASSWORD, OTP_PASSWORD, WRONG_PASSWORD)
    secrets.password(*(a.investor_password for a in default_accounts()))
    secrets.otp(OTP_CODE, WRONG_OTP)
    return secrets


def fast(**kwargs: Any) -> dict[str, Any]:
    return {"timeout": 10.0, "reconnect_delays": lambda: backoff(0.01, 2.0, 0.1, 0.5, seed=1), **kwargs}


@pytest.fixture
def secrets() -> Secrets:
    return all_secrets()


@pytest.fixture
async def sim(secrets: Secrets) -> AsyncIterator[SimServer]:
    async with SimServer(seed=3, clock=VirtualClock.manual(START_MS)) as server:
        record_issued_blobs(server.auth, secrets)
        yield server


def reprs(*objects: object) -> str:
    return "\n".join(f"{o!r} {o!s}" for o in objects)


def exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + repr(exc.args)


async def reconnect(client: MT5Client, sim: SimServer) -> None:
    """Drop the link under the client and wait until it has logged in again (with the blob)."""
    loop = asyncio.get_running_loop()
    again: asyncio.Future[None] = loop.create_future()

    def on_state(event: ConnectionState) -> None:
        if event.state is SessionState.READY and event.attempt > 0 and not again.done():
            again.set_result(None)

    off = client.on(ConnectionState, on_state)
    sim.faults.drop_at_command(Command.PING, "before")
    with pytest.raises(ConnectionLost):
        await client.session.request(Command.PING)
    await asyncio.wait_for(again, 10)
    off()


async def full_session(url: str, sim: SimServer) -> tuple[list[object], list[BaseException]]:
    """Every login path, a trade and a reconnect; returns the objects and exceptions it produced."""
    objects: list[object] = []
    errors: list[BaseException] = []
    async with MT5Client(url, **fast()) as client:
        await client.login(DEMO, DEMO_PASSWORD)
        await client.quote("EURUSD")
        result = await client.buy("EURUSD", 0.01, comment="security")
        assert result.retcode == 10009
        await reconnect(client, sim)
        assert (await client.account()).login == DEMO
        objects += [client, client.session, client.session._credentials, client.mirror, result]
    async with MT5Client(url, **fast()) as client:
        with pytest.raises(AuthError) as refused:
            await client.login(DEMO, WRONG_PASSWORD)
        errors.append(refused.value)
        with pytest.raises(OTPRequired) as needed:
            await client.login(OTP_LOGIN, OTP_PASSWORD)
        errors.append(needed.value)
        with pytest.raises(OTPRequired) as wrong:
            await client.login(OTP_LOGIN, OTP_PASSWORD, otp=WRONG_OTP)
        errors.append(wrong.value)
        assert (await client.login(OTP_LOGIN, OTP_PASSWORD, otp=OTP_CODE)).login == OTP_LOGIN
        objects += [client, client.session, client.session._credentials]
    async with ClientPool() as pool:
        pool.add(url, OTP_LOGIN, OTP_PASSWORD, otp=OTP_CODE, **fast())
        pool.add(url, DEMO, DEMO_PASSWORD, **fast())
        await pool.connect()
        objects += [pool, *pool.clients.values(), *pool._entries.values()]
    return objects, errors


async def test_a_full_session_leaks_no_secret_into_logs_reprs_or_exceptions(
    sim: SimServer, secrets: Secrets, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("pymt5_core", "websockets", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    objects, errors = await full_session(sim.url, sim)
    objects += [sim, sim.auth, sim.demo_account, *default_accounts(), sim.faults]
    assert len(secrets.blobs) >= 5  # demo, its reconnect, the OTP account and the two pool logins
    assert len(caplog.records) > 50  # DEBUG logging did capture the session
    assert secrets.find_in_records(caplog.records) == []
    assert secrets.find(reprs(*objects)) == []
    for error in errors:
        assert secrets.find(exception_text(error)) == []


async def test_the_dump_proxy_records_a_full_session_with_every_secret_redacted(
    sim: SimServer, secrets: Secrets, tmp_path: Path
) -> None:
    out = tmp_path / "session.jsonl"
    with out.open("w", encoding="utf-8") as stream:
        sink = JsonlSink(stream)
        async with DumpProxy(sim.url, sink) as proxy:
            await full_session(proxy.url, sim)
    data = out.read_bytes()
    assert secrets.find_bytes(data) == []
    lines = [json.loads(line) for line in data.decode().splitlines()]
    logins = [line for line in lines if line["command"] == Command.LOGIN and line["dir"] == "send"]
    answers = [line for line in lines if line["command"] == Command.LOGIN and line["dir"] == "recv"]
    assert len(logins) >= 8 and any(a["code"] == 0 for a in answers)  # the logins were recorded, decoded
    for line in logins:
        assert {line["fields"][k] for k in ("password", "otp", "password_blob", "session")} == {REDACTED}
    for line in answers:
        if line["code"] == 0:
            assert line["fields"] == {"password_blob": REDACTED, "session": REDACTED}
    boot = [line for line in lines if line["command"] == Command.BOOTSTRAP and line["dir"] == "recv"]
    assert boot and all(line["fields"] == {"token": REDACTED, "key": REDACTED} for line in boot)


def test_the_blocking_entry_points_and_the_cli_write_nothing_unasked_and_no_secret_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = all_secrets()
    home, work, asked = tmp_path / "home", tmp_path / "work", tmp_path / "asked"
    for folder in (home, work, asked):
        folder.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.chdir(work)
    caplog.set_level(logging.DEBUG)
    with sim_in_thread(seed=3, speed=60.0) as sim:
        record_issued_blobs(sim.auth, secrets)
        with connect(sim.url, DEMO, DEMO_PASSWORD, timeout=10.0) as client:
            client.account()
            objects: list[object] = [client]
        with MT5ClientSync(sim.url, timeout=10.0) as blocking:
            with pytest.raises(OTPRequired) as needed:
                blocking.login(OTP_LOGIN, OTP_PASSWORD)
            blocking.login(OTP_LOGIN, OTP_PASSWORD, otp=OTP_CODE)
            objects.append(blocking)
        try:
            assert mt5.initialize(server=sim.url, login=DEMO, password=DEMO_PASSWORD, timeout=10_000)
            assert mt5.account_info().login == DEMO
            assert mt5.login(DEMO, password=WRONG_PASSWORD) is False
            mt5_error = mt5.last_error()
        finally:
            mt5.shutdown()
        assert list(home.rglob("*")) == [] and list(work.rglob("*")) == []  # nothing written unasked

        connection = ["--url", sim.url, "--login", str(DEMO), "--password", DEMO_PASSWORD]
        dump = asked / "dump.jsonl"
        assert cli.main(["dump", *connection, "--out", str(dump), "--seconds", "0.2"]) == 0
        bars = asked / "bars.csv"
        assert cli.main(["download", "EURUSD", *connection, "-t", "H1", "-o", str(bars), "--no-progress",
                         "--cache-dir", str(asked / "cache")]) == 0
        frame = download("GBPUSD", "H1", url=sim.url, login=DEMO, password=DEMO_PASSWORD,
                         cache_dir=asked / "cache", progress=False)
        assert len(frame) > 0
    written = [p for p in asked.rglob("*") if p.is_file()]
    assert dump in written and bars in written and any(p.suffix == ".parquet" for p in written)
    assert len(secrets.blobs) >= 4
    for path in written:
        assert secrets.find_bytes(path.read_bytes()) == [], path
    assert secrets.find(reprs(*objects) + exception_text(needed.value) + repr(mt5_error)) == []
    assert secrets.find_in_records(caplog.records) == []
