"""Fuzzing the simulator's request handling over real loopback WebSockets.

Every example opens a fresh connection to one long-lived :class:`SimServer` and attacks it with one case:
a well-encrypted request whose payload is a mutated valid payload (every command the simulator handles,
logged in or not), an unknown command id, random bytes, a mutated whole message, a message under a wrong
key, a message with bad padding, a mangled bootstrap, or a login with a blob the simulator never issued.

What must hold after every example:

* a well-encrypted request is answered with its own command id and the connection lives on (SPEC §2.9);
* anything that does not decrypt closes that connection, with close code 1002, or (when random bytes
  happen to decrypt) is answered like any request: never a hang;
* a bystander connection, logged in before the first example, keeps answering requests;
* the simulator logs no error (a handler that failed with anything but ``ProtocolError``) and keeps
  serving.

The simulator runs on an event loop of its own that each example drives with ``run_until_complete``;
Hypothesis runs derandomized without a database, so every run sends the same frames.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pymt5_core.sim import SimServer, VirtualClock
from pymt5_core.sim.auth import LoginLimits
from pymt5_core.sim.session import HANDLED_COMMANDS
from pymt5_core.wire import messages as msg
from pymt5_core.wire.enums import Command
from pymt5_core.wire.frames import INITIAL_KEY, TOKEN_SIZE, FrameCipher, RequestFrame, pack_message
from tests.fuzz.test_wire_mutations import mutated
from tests.sim.conftest import START_MS, TIMEOUT, Closed, WireClient

T = TypeVar("T")
VECTORS = Path(__file__).parents[1] / "data" / "vectors"
FUZZ = settings(
    derandomize=True, database=None, deadline=None, max_examples=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
DEMO, DEMO_PASSWORD = 5000001, "Demo1234!"
BYSTANDER, BYSTANDER_PASSWORD = 5000002, "Netting1234!"
#: Codes the simulator answers requests with (0 ok, 1 internal/malformed, 3 refused, 5 and 201 OTP).
ANSWER_CODES = {0, 1, 3, 5, 201}
#: The close code for a frame that does not decrypt or parse (RFC 6455 protocol error).
PROTOCOL_ERROR = 1002
#: Bars per command 11 answer in this module: the cost of decades of M1 bars is not what is fuzzed here.
MAX_RATES_SPAN_S = 7 * 86_400


def _cases(name: str) -> list[bytes]:
    return [bytes.fromhex(c["hex"]) for c in json.loads((VECTORS / f"{name}.json").read_text())["cases"]]


def _trade(**fields: Any) -> bytes:
    values = {"action_id": 1, "trade_action": 0, "trade_symbol": "EURUSD", "trade_volume": 1_000_000, **fields}
    return msg.build_trade_request(values)


#: Valid payloads of the commands that take one, to be mutated.
PAYLOAD_SEEDS: dict[int, list[bytes]] = {
    Command.LOGIN: [msg.build_login_request(DEMO, DEMO_PASSWORD), *_cases("login_request")],
    Command.INIT: _cases("init_request"),
    Command.OTP: _cases("otp_request"),
    Command.HISTORY: [msg.build_history_request(0, 2_000_000_000), *_cases("trade_history_request")],
    Command.SUBSCRIBE_TICKS: [msg.build_id_list([1, 2, 3]), *_cases("symbol_id_list_request")],
    Command.SUBSCRIBE_BOOK: [msg.build_id_list([1])],
    Command.FULL_SYMBOLS: [msg.build_id_list([1, 2, 9999])],
    Command.SPREADS: [msg.build_id_list([1])],
    Command.RATES: [msg.build_rates_request("EURUSD", 1, START_MS // 1000 - 3600, START_MS // 1000),
                    *_cases("rate_request")],
    Command.TRADE_REQUEST: [_trade(), _trade(trade_action=5, trade_type=2, price_order=1.0), *_cases("trade_request")],
    Command.CHANGE_PASSWORD: _cases("change_password_request"),
    Command.NOTIFY: _cases("notify_request"),
    Command.VERIFY_CODES_REQUEST: _cases("verify_codes_request"),
    Command.VERIFY_CODES_SUBMIT: _cases("open_demo_account_request"),
    Command.OPEN_DEMO: _cases("open_demo_account_request"),
    Command.OPEN_REAL: _cases("open_real_account_request"),
}
HANDLED = sorted(HANDLED_COMMANDS)
#: Seeds of every handled command; those without a payload start empty and the mutations grow one.
SEEDS = {command: PAYLOAD_SEEDS.get(command, [b""]) for command in HANDLED}
#: Seeds refused on purpose: logins and OTP requests of unknown accounts (3), a rates vector of period 0 (1).
REFUSED_SEEDS = {Command.LOGIN: 3, Command.OTP: 3, Command.RATES: 1}
UNKNOWN = st.integers(0, 0xFFFF).filter(lambda c: c not in HANDLED_COMMANDS)


class Harness:
    """A simulator on an event loop of its own, a logged-in bystander and a trap for error log records."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.errors: list[logging.LogRecord] = []
        self._trap = _Trap(self.errors)
        logging.getLogger("pymt5_core").addHandler(self._trap)
        self.sim = SimServer(seed=1, clock=VirtualClock.manual(START_MS),
                             login_limits=LoginLimits(max_failures=0, peer_max_failures=0))
        bars_wire = self.sim.model.bars_wire

        def short_bars(symbol: str, period: int, from_s: int, to_s: int, **kw: Any) -> bytes:
            return bars_wire(symbol, period, from_s, min(to_s, from_s + MAX_RATES_SPAN_S), **kw)

        self.sim.model.bars_wire = short_bars  # type: ignore[method-assign]
        self.run(self.sim.start())
        self.bystander = self.run(self._logged_in(BYSTANDER, BYSTANDER_PASSWORD))

    def run(self, coro: Awaitable[T], timeout: float = 4 * TIMEOUT) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    async def _logged_in(self, login: int, password: str) -> WireClient:
        client = await WireClient.open(self.sim.url)
        frame = await client.login(login, password)
        assert frame.code == 0, frame
        return client

    def attack(self, case: Callable[[WireClient], Awaitable[None]]) -> None:
        """Run one case on a fresh connection, then check the simulator and the bystander."""

        async def go() -> None:
            client = await WireClient.open(self.sim.url, bootstrap=False)
            try:
                await case(client)
            finally:
                await client.close()
            await self._settled()
            await self.check_bystander()

        self.run(go())
        assert not self.errors, [r.getMessage() for r in self.errors]

    async def check_bystander(self) -> None:
        assert (await self.bystander.request(Command.PING)).code == 0
        account = await self.bystander.request(Command.ACCOUNT)
        assert account.code == 0 and msg.read_account(account.body).main["account_name"] == "Netting Trader"

    async def _settled(self) -> None:
        """Wait until the fuzzed connection is gone from the server (only the bystander is left)."""
        async with asyncio.timeout(TIMEOUT):
            while self.sim.connections != 1:
                await asyncio.sleep(0.001)
        assert self.sim._server is not None and self.sim._server.is_serving()

    def close(self) -> None:
        self.run(self.bystander.close())
        self.run(self.sim.close())
        self.loop.close()
        logging.getLogger("pymt5_core").removeHandler(self._trap)


class _Trap(logging.Handler):
    def __init__(self, sink: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record)


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.close()


# --- helpers ------------------------------------------------------------------------------------------


async def bootstrap(client: WireClient, *, login: bool) -> bytes:
    """Bootstrap (and log in to the demo account); returns the session key from the bootstrap answer."""
    frame = await client.bootstrap()
    if login:
        answer = await client.login(DEMO, DEMO_PASSWORD)
        assert answer.code == 0, answer
    return bytes(frame.body[2 + TOKEN_SIZE :])


async def answered_or_closed(client: WireClient) -> int | None:
    """The command id of the next frame, or None when the server closed the connection (with code 1002)."""
    try:
        return (await client.next()).command
    except Closed:
        assert client.ws.close_code == PROTOCOL_ERROR, client.ws.close_code
        return None


async def still_alive(client: WireClient) -> None:
    assert (await client.request(Command.PING)).code == 0


def message(key: bytes, command: int, payload: bytes) -> bytes:
    return pack_message(FrameCipher(key).encrypt(RequestFrame(command, payload, (1, 2)).encode()))


# --- cases ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", HANDLED)
def test_the_seeds_are_valid_requests(harness: Harness, command: int) -> None:
    async def case(client: WireClient) -> None:
        await bootstrap(client, login=True)
        for seed in SEEDS[command]:
            code = (await client.request(command, seed)).code
            assert code in (0, REFUSED_SEEDS.get(command, 0)), (seed.hex(), code)

    harness.attack(case)


@pytest.mark.parametrize("command", HANDLED)
@settings(FUZZ, max_examples=12)
@given(data=st.data())
def test_mutated_payloads_of_every_command_are_answered_and_the_connection_lives_on(
    harness: Harness, command: int, data: st.DataObject
) -> None:
    payload = data.draw(mutated(SEEDS[command]), label="payload")
    login = data.draw(st.booleans(), label="logged in")

    async def case(client: WireClient) -> None:
        await bootstrap(client, login=login)
        await client.send(command, payload)
        frame = await client.next(command)
        assert frame.code in ANSWER_CODES, frame
        await still_alive(client)

    harness.attack(case)


@pytest.mark.parametrize("command", HANDLED)
def test_every_command_truncated_to_every_length_class_is_answered(harness: Harness, command: int) -> None:
    seed = max(SEEDS[command], key=len)
    cuts = sorted({0, 1, len(seed) // 2, max(len(seed) - 1, 0)})

    async def case(client: WireClient) -> None:
        await bootstrap(client, login=True)
        for cut in cuts:
            await client.send(command, seed[:cut])
            assert (await client.next(command)).code in ANSWER_CODES
        await still_alive(client)

    harness.attack(case)


@FUZZ
@given(command=UNKNOWN, payload=st.binary(max_size=64), login=st.booleans())
def test_unknown_command_ids_get_code_1(harness: Harness, command: int, payload: bytes, login: bool) -> None:
    async def case(client: WireClient) -> None:
        await bootstrap(client, login=login)
        await client.send(command, payload)
        assert (await client.next(command)).code == 1
        await still_alive(client)

    harness.attack(case)


@FUZZ
@given(junk=st.binary(max_size=300), bootstrapped=st.booleans())
def test_random_bytes_close_only_that_connection(harness: Harness, junk: bytes, bootstrapped: bool) -> None:
    async def case(client: WireClient) -> None:
        if bootstrapped:
            await bootstrap(client, login=True)
        await client.send_raw(junk)
        if await answered_or_closed(client) is not None:  # the bytes happened to decrypt
            await still_alive(client)

    harness.attack(case)


@FUZZ
@given(data=st.data())
def test_mutated_whole_messages_are_answered_or_close_that_connection(harness: Harness, data: st.DataObject) -> None:
    command = data.draw(st.sampled_from(HANDLED), label="command")
    seed = data.draw(st.sampled_from(SEEDS[command]), label="seed")

    async def case(client: WireClient) -> None:
        key = await bootstrap(client, login=True)
        await client.send_raw(data.draw(mutated([message(key, command, seed)]), label="message"))
        if await answered_or_closed(client) is not None:
            await still_alive(client)

    harness.attack(case)


@FUZZ
@given(key=st.binary(min_size=32, max_size=32), command=st.sampled_from(HANDLED), bootstrapped=st.booleans())
def test_a_request_under_a_wrong_key_closes_only_that_connection(
    harness: Harness, key: bytes, command: int, bootstrapped: bool
) -> None:
    async def case(client: WireClient) -> None:
        if bootstrapped:
            session_key = await bootstrap(client, login=True)
            wrong = key if key != session_key else bytes(32)
        else:
            wrong = key if key != INITIAL_KEY else bytes(32)
            command_ = Command.BOOTSTRAP
        await client.send_raw(message(wrong, command if bootstrapped else command_, SEEDS[command][0]))
        if await answered_or_closed(client) is not None:  # a wrong key that still yields valid padding
            await still_alive(client)

    harness.attack(case)


@FUZZ
@given(blocks=st.integers(1, 4).flatmap(lambda n: st.binary(min_size=16 * n, max_size=16 * n)),
       bootstrapped=st.booleans())
def test_bad_padding_closes_the_connection_with_1002(harness: Harness, blocks: bytes, bootstrapped: bool) -> None:
    pad = blocks[-1]
    if 1 <= pad <= 16 and blocks[-pad:] == bytes([pad]) * pad:
        blocks = blocks[:-1] + b"\x00"  # 0 is never a valid PKCS#7 pad length

    async def case(client: WireClient) -> None:
        key = await bootstrap(client, login=True) if bootstrapped else INITIAL_KEY
        raw = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor()
        await client.send_raw(pack_message(raw.update(blocks) + raw.finalize()))
        assert await answered_or_closed(client) is None

    harness.attack(case)


@FUZZ
@given(token=st.binary(min_size=TOKEN_SIZE, max_size=TOKEN_SIZE))
def test_a_bootstrap_with_a_token_never_issued_is_accepted(harness: Harness, token: bytes) -> None:
    async def case(client: WireClient) -> None:
        await client.ws.send(message(INITIAL_KEY, Command.BOOTSTRAP, token))  # SPEC §2.11: accept any token
        frame = await client.next(Command.BOOTSTRAP)
        assert frame.code == 0 and client.conn.ready
        assert (await client.login(DEMO, DEMO_PASSWORD)).code == 0

    harness.attack(case)


@FUZZ
@given(payload=mutated([bytes(TOKEN_SIZE)]))
def test_a_bootstrap_with_a_mangled_token_is_answered(harness: Harness, payload: bytes) -> None:
    async def case(client: WireClient) -> None:
        await client.ws.send(message(INITIAL_KEY, Command.BOOTSTRAP, payload))
        frame = await client.next(Command.BOOTSTRAP)
        assert frame.code == 0 and client.conn.ready
        await still_alive(client)

    harness.attack(case)


@FUZZ
@given(command=st.sampled_from(HANDLED))
def test_a_first_request_that_is_not_the_bootstrap_closes_with_1002(harness: Harness, command: int) -> None:
    async def case(client: WireClient) -> None:
        await client.send_raw(message(INITIAL_KEY, command, SEEDS[command][0]))
        assert await answered_or_closed(client) is None

    harness.attack(case)


@FUZZ
@given(blob=st.binary(min_size=160, max_size=160).filter(any), login=st.sampled_from([DEMO, BYSTANDER, 12345]))
def test_a_login_with_a_blob_never_issued_is_refused_with_code_3(harness: Harness, blob: bytes, login: int) -> None:
    async def case(client: WireClient) -> None:
        await bootstrap(client, login=False)
        assert (await client.login(login, blob.hex())).code == 3
        await still_alive(client)

    harness.attack(case)
