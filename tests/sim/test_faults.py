"""Fault injection (``sim.faults``) over real connections, and TLS with the generated CA."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from pymt5_core.errors import ProtocolError
from pymt5_core.sim import SimServer, VirtualClock
from pymt5_core.sim.faults import FaultPlan
from pymt5_core.wire import messages as msg
from pymt5_core.wire.enums import Command
from pymt5_core.wire.frames import ClientConnection
from tests.sim.conftest import START_MS, Closed, WireClient, WireClientFactory


async def assert_dropped(client: WireClient) -> None:
    """The server cut the TCP connection: no close frame, so the client sees 1006."""
    with pytest.raises(Closed):
        await client.next()
    assert client.ws.close_code == 1006


async def test_drop_after_n_sent_frames_hits_existing_connections_once(
    wire_client: WireClientFactory, sim: Any
) -> None:
    client = await wire_client(login=True)
    sim.faults.drop_after_frames(3)
    for _ in range(3):
        await client.send(Command.PING)
    for _ in range(3):
        assert (await client.next(Command.PING)).code == 0  # the third answer is written, then the cut
    await assert_dropped(client)
    assert sim.faults.armed == 0
    fresh = await wire_client(login=True)
    for _ in range(5):
        assert (await fresh.request(Command.PING)).code == 0


async def test_drop_after_n_received_frames(wire_client: WireClientFactory, sim: Any) -> None:
    client = await wire_client(login=True)
    sim.faults.drop_after_frames(2, direction="received")
    assert (await client.request(Command.PING)).code == 0
    await client.send(Command.PING)
    await assert_dropped(client)


async def test_drop_at_command_before_answering(wire_client: WireClientFactory, sim: Any) -> None:
    client = await wire_client(login=True)
    sim.faults.drop_at_command(Command.ACCOUNT, "before")
    assert (await client.request(Command.PING)).code == 0
    await client.send(Command.ACCOUNT)
    await assert_dropped(client)


async def test_drop_at_command_after_answering_applies_to_new_connections(
    wire_client: WireClientFactory, sim: Any
) -> None:
    sim.faults.drop_at_command(Command.LOGIN, "after")
    client = await wire_client()
    assert (await client.login(sim.demo_account.login, sim.demo_account.password)).code == 0
    await assert_dropped(client)


async def test_delay_holds_one_command_while_others_are_answered(wire_client: WireClientFactory, sim: Any) -> None:
    client = await wire_client(login=True)
    sim.faults.delay(Command.ACCOUNT, 0.2)
    await client.send(Command.ACCOUNT)
    await client.send(Command.PING)
    assert (await client.next()).command == Command.PING
    frame = await client.next()
    assert frame.command == Command.ACCOUNT and frame.code == 0
    sim.faults.reset()
    await client.send(Command.ACCOUNT)
    await client.send(Command.PING)
    assert (await client.next()).command == Command.ACCOUNT


async def test_reorder_releases_the_held_answer_after_the_next_one(
    wire_client: WireClientFactory, sim: Any
) -> None:
    client = await wire_client(login=True)
    sim.faults.reorder(Command.SYMBOL_GROUPS)
    await client.send(Command.SYMBOL_GROUPS)
    await client.send(Command.PING)
    assert [(await client.next()).command for _ in range(2)] == [Command.PING, Command.SYMBOL_GROUPS]
    await client.send(Command.SYMBOL_GROUPS)  # one-shot: back to normal
    await client.send(Command.PING)
    assert [(await client.next()).command for _ in range(2)] == [Command.SYMBOL_GROUPS, Command.PING]


async def test_corrupt_frame_cannot_be_decrypted_and_the_connection_goes_on(
    wire_client: WireClientFactory, sim: Any
) -> None:
    client = await wire_client(login=True)
    sim.faults.corrupt_next_frame(Command.PING)
    await client.send(Command.PING)
    with pytest.raises(ProtocolError):
        await client.next()
    assert (await client.request(Command.PING)).code == 0


async def test_refused_logins(wire_client: WireClientFactory, sim: Any) -> None:
    client = await wire_client()
    sim.faults.refuse_logins(2)
    assert (await client.login(sim.demo_account.login, sim.demo_account.password)).code == 2
    sim.faults.allow_logins()
    assert (await client.login(sim.demo_account.login, sim.demo_account.password)).code == 0
    with pytest.raises(ValueError):
        sim.faults.refuse_logins(0)


async def test_reset_restores_the_link_and_disarms_everything(wire_client: WireClientFactory, sim: Any) -> None:
    client = await wire_client(login=True)
    sim.faults.link_down()
    sim.faults.drop_at_command(Command.PING)
    sim.faults.refuse_logins(100)
    assert msg.read_link_state((await client.next(Command.LINK_STATE)).body) == 1
    sim.faults.reset()
    assert msg.read_link_state((await client.next(Command.LINK_STATE)).body) == 0
    assert sim.faults.armed == 0 and sim.faults.login_refusal is None and sim.faults.trade_link_up
    assert (await client.request(Command.PING)).code == 0


def test_corruption_is_deterministic_per_seed() -> None:
    message = ClientConnection().bootstrap(random=(1, 2))

    def corrupt(seed: int) -> bytes:
        plan = FaultPlan(seed)
        plan.corrupt_next_frame()
        out, drop = plan.attach().on_sent(0, message)
        assert not drop
        return out

    assert corrupt(5) == corrupt(5) != corrupt(6)
    assert corrupt(5) != message and (len(corrupt(5)) - 8) % 16  # never a whole number of AES blocks


def test_engine_faults_need_an_engine() -> None:
    with pytest.raises(RuntimeError):
        FaultPlan().force_reject(10006)


# --- TLS -----------------------------------------------------------------------------------------------


async def test_tls_with_the_generated_ca() -> None:
    async with SimServer(seed=2, tls=True, clock=VirtualClock.manual(START_MS)) as sim:
        assert sim.url.startswith("wss://localhost:") and sim.ca_pem is not None
        client = await WireClient.open(sim.url, ssl_context=sim.ssl_context_for_clients())
        assert (await client.login(sim.demo_account.login, sim.demo_account.password)).code == 0
        assert (await client.request(Command.ACCOUNT)).code == 0
        await client.close()
        with pytest.raises(ssl.SSLCertVerificationError):
            await WireClient.open(sim.url, ssl_context=ssl.create_default_context())


async def test_no_client_context_without_tls(sim: Any) -> None:
    assert sim.ca_pem is None and sim.url.startswith("ws://127.0.0.1:")
    with pytest.raises(RuntimeError):
        sim.ssl_context_for_clients()


async def test_skip_lets_the_first_matching_requests_through(wire_client: WireClientFactory, sim: Any) -> None:
    client = await wire_client(login=True)
    sim.faults.drop_at_command(Command.PING, "before", skip=2)
    assert (await client.request(Command.PING)).code == 0
    assert (await client.request(Command.ACCOUNT)).code == 0  # other commands do not count
    assert (await client.request(Command.PING)).code == 0
    await client.send(Command.PING)  # the third ping
    await assert_dropped(client)
    with pytest.raises(ValueError):
        sim.faults.corrupt_next_frame(Command.PING, skip=-1)


async def test_drop_unanswered_executes_the_trade_but_sends_nothing_back(
    wire_client: WireClientFactory, sim: Any
) -> None:
    from tests.sim.test_server_trading import request

    client = await wire_client(login=True)
    twin = await wire_client(login=True)  # another terminal of the same account
    sim.faults.drop_at_command(Command.TRADE_REQUEST, "unanswered")
    await client.send(Command.TRADE_REQUEST, request(3, type_filling=1, type_flags=2, action_id=5))
    await assert_dropped(client)
    assert not client.pending()  # neither the answer nor any push of the trade
    assert len(sim.engine.positions(sim.demo_account.login)) == 1  # but it executed, once
    result = await twin.next(Command.TRADE_RESULT)
    assert msg.read_trade_result(result.body)[0]["action_id"] == 5
