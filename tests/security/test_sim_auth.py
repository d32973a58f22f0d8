"""The simulator's defences: failed-login limits per account and per client address, delayed refusals,
password checks of the OTP connection, and clean answers to tokens, blobs and keys it never issued.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pymt5_core.sim import SimServer, VirtualClock
from pymt5_core.sim.auth import Authenticator, LoginLimits
from pymt5_core.sim.session import Phase
from pymt5_core.wire import messages as msg
from pymt5_core.wire.enums import Command
from pymt5_core.wire.frames import TOKEN_SIZE, FrameCipher, RequestFrame, pack_message
from tests.sim.conftest import START_MS, Closed, WireClient

DEMO, DEMO_PASSWORD = 5000001, "Demo1234!"
NETTING, NETTING_PASSWORD = 5000002, "Netting1234!"
YEN, YEN_PASSWORD = 5000003, "Yen1234!"
OTP_LOGIN, OTP_PASSWORD, OTP_CODE = 5000004, "Secure1234!", "123456"
#: No delay unless a test asks for one: the suite stays fast.
LIMITS = LoginLimits(max_failures=3, window_ms=60_000, peer_max_failures=5, peer_window_ms=60_000, refusal_delay=0)


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(seed=1, clock=VirtualClock.manual(START_MS), login_limits=LIMITS) as server:
        yield server


@pytest.fixture
async def client(sim: SimServer) -> AsyncIterator[WireClient]:
    client = await WireClient.open(sim.url)
    yield client
    await client.close()


async def login_code(client: WireClient, login: int, password: str, otp: str = "") -> int:
    return (await client.login(login, password, otp=otp)).code


# --- limits -----------------------------------------------------------------------------------------------


async def test_an_account_is_locked_after_its_failures_and_unlocked_by_time(sim: SimServer, client: WireClient) -> None:
    for _ in range(LIMITS.max_failures):
        assert await login_code(client, DEMO, "guess") == 3
    assert await login_code(client, DEMO, DEMO_PASSWORD) == 3  # locked: the right password is not even checked
    assert await login_code(client, NETTING, NETTING_PASSWORD) == 0  # other accounts are not affected
    await sim.advance(LIMITS.window_ms)
    assert await login_code(client, DEMO, DEMO_PASSWORD) == 0


async def test_one_address_guessing_across_accounts_is_locked_out_of_every_account(
    sim: SimServer, client: WireClient
) -> None:
    guesses = [(DEMO, "a"), (NETTING, "b"), (YEN, "c"), (424242, "d"), (OTP_LOGIN, "e")]  # <= 1 per account limit
    assert len(guesses) == LIMITS.peer_max_failures
    for login, guess in guesses:
        assert await login_code(client, login, guess) == 3
    other = await WireClient.open(sim.url)  # a new connection from the same address changes nothing
    try:
        assert await login_code(other, NETTING, NETTING_PASSWORD) == 3
        await sim.advance(LIMITS.peer_window_ms)
        assert await login_code(other, NETTING, NETTING_PASSWORD) == 0
    finally:
        await other.close()


async def test_a_good_login_does_not_clear_the_addresss_failures(sim: SimServer, client: WireClient) -> None:
    for login in (DEMO, NETTING, YEN, 424242):
        assert await login_code(client, login, "guess") == 3
    assert await login_code(client, OTP_LOGIN, OTP_PASSWORD, OTP_CODE) == 0
    assert await login_code(client, 777, "guess") == 3  # the fifth failure of this address
    assert await login_code(client, OTP_LOGIN, OTP_PASSWORD, OTP_CODE) == 3


async def test_wrong_otps_count_as_failures(sim: SimServer, client: WireClient) -> None:
    for code in ("000000", "111111", "222222"):
        assert await login_code(client, OTP_LOGIN, OTP_PASSWORD, code) == 5
    assert await login_code(client, OTP_LOGIN, OTP_PASSWORD, OTP_CODE) == 3


async def test_password_checks_of_the_otp_connection_count_and_are_refused_when_locked(
    sim: SimServer, client: WireClient
) -> None:
    def unbind(password: str) -> bytes:
        return msg.build_otp_request(DEMO, password, otp="000000")

    for _ in range(LIMITS.max_failures):
        assert (await client.request(Command.OTP, unbind("guess"))).code == 3
    assert (await client.request(Command.OTP, unbind(DEMO_PASSWORD))).code == 3
    assert await login_code(client, DEMO, DEMO_PASSWORD) == 3


async def test_a_locked_out_refusal_is_delayed_while_other_commands_are_answered(sim: SimServer) -> None:
    sim.auth.limits = LoginLimits(max_failures=1, refusal_delay=0.5)
    client = await WireClient.open(sim.url)
    try:
        assert await login_code(client, DEMO, "guess") == 3  # counted, answered at once
        await client.send(Command.LOGIN, msg.build_login_request(DEMO, DEMO_PASSWORD))
        await client.send(Command.PING)
        first = await client.next()
        assert first.command == Command.PING  # the login refusal waits, the connection does not
        assert (await client.next(Command.LOGIN)).code == 3
    finally:
        await client.close()


async def test_limits_of_zero_disable_the_lock_out(sim: SimServer, client: WireClient) -> None:
    sim.auth.limits = LoginLimits(max_failures=0, peer_max_failures=0)
    for _ in range(30):
        assert await login_code(client, DEMO, "guess") == 3
    assert await login_code(client, DEMO, DEMO_PASSWORD) == 0


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        LoginLimits(max_failures=-1)
    with pytest.raises(ValueError):
        LoginLimits(refusal_delay=-0.1)


def test_the_failure_records_of_addresses_are_bounded() -> None:
    now = [0]
    auth = Authenticator([], lambda: now[0], LoginLimits(peer_window_ms=1000))
    for i in range(5000):
        auth.login({"login": 1, "password": "x"}, peer=f"10.0.{i // 256}.{i % 256}")
    now[0] = 10_000  # every failure has expired
    auth.login({"login": 1, "password": "x"}, peer="192.0.2.1")
    assert len(auth._peers) <= 4097


# --- what the simulator never issued ----------------------------------------------------------------------


async def test_a_bootstrap_token_never_issued_is_accepted_as_the_spec_asks(sim: SimServer) -> None:
    client = await WireClient.open(sim.url, token=bytes(range(1, TOKEN_SIZE + 1)))
    try:
        assert await login_code(client, DEMO, DEMO_PASSWORD) == 0  # SPEC §2.11: accept any token
    finally:
        await client.close()


async def test_a_login_with_a_blob_or_session_never_issued_is_refused(sim: SimServer, client: WireClient) -> None:
    assert await login_code(client, DEMO, bytes(range(160)).hex()) == 3
    frame = await client.request(Command.LOGIN, msg.build_login_request(DEMO, DEMO_PASSWORD, session=987654321))
    assert frame.code == 0  # an unknown session id is only a hint: the password decides


@pytest.mark.parametrize("phase", ["bootstrap", "session"])
async def test_a_wrong_key_closes_that_connection_with_1002_and_nothing_else(sim: SimServer, phase: str) -> None:
    bystander = await WireClient.open(sim.url)
    assert await login_code(bystander, NETTING, NETTING_PASSWORD) == 0
    client = await WireClient.open(sim.url, bootstrap=phase == "session")
    command = Command.BOOTSTRAP if phase == "bootstrap" else Command.PING
    payload = bytes(TOKEN_SIZE) if phase == "bootstrap" else b""
    await client.send_raw(pack_message(FrameCipher(bytes(32)).encrypt(RequestFrame(command, payload).encode())))
    with pytest.raises(Closed):
        await client.next()
    assert client.ws.close_code == 1002
    assert (await bystander.request(Command.PING)).code == 0
    await client.close()
    await bystander.close()


async def test_data_commands_need_a_login(sim: SimServer, client: WireClient) -> None:
    assert client.conn.ready
    for command in (Command.ACCOUNT, Command.TRADE_REQUEST, Command.HISTORY, Command.CHANGE_PASSWORD):
        assert (await client.request(command)).code == 3
    sessions: list[Any] = [c.session for c in sim._connections]
    assert all(s.phase is Phase.READY for s in sessions)


async def test_the_peer_address_is_known_to_the_session(sim: SimServer, client: WireClient) -> None:
    await asyncio.wait_for(client.request(Command.PING), 5)
    assert [c.session.peer for c in sim._connections] == ["127.0.0.1"]
