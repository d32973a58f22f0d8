"""Simulator sessions over real loopback sockets: bootstrap, login, every command, ordering, errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from pymt5_core.sim.auth import FAILURE_WINDOW_MS, MAX_FAILURES, totp
from pymt5_core.wire import messages as msg
from pymt5_core.wire.enums import Command, Period
from pymt5_core.wire.frames import INITIAL_KEY, TOKEN_SIZE, FrameCipher, pack_message
from tests.sim.conftest import Closed, WireClient, WireClientFactory

OTP_LOGIN, OTP_PASSWORD, OTP_CODE = 5000004, "Secure1234!", "123456"
UNSUPPORTED = [21, 25, 33, 37, 50, 52, *range(100, 113), 1, 16, 200, 999, 0xFFFF]
FORM = {"first_name": "Ada", "second_name": "Lovelace", "email": "ada@example.com", "phone": "+44 20 0000",
        "country": "United Kingdom", "group": "demo\\default", "deposit": 5000.0, "leverage": 200}


# --- bootstrap ----------------------------------------------------------------------------------------


async def test_bootstrap_answers_under_the_initial_key_with_a_fresh_token_and_32_byte_key(sim: Any) -> None:
    client = await WireClient.open(sim.url, bootstrap=False)
    await client.ws.send(client.conn.bootstrap(random=(7, 9)))
    frame = await client.next()
    assert frame.command == Command.BOOTSTRAP and frame.code == 0
    assert len(frame.body) == 98 and frame.body[:2] == b"\0\0"  # SPEC §2.6 guidance
    assert frame.reserved == 7 | 9 << 8  # the request's random bytes are copied
    token = client.conn.token
    assert any(token)
    assert (await client.request(Command.PING)).code == 0
    assert client.pending() == []  # nothing unsolicited after the bootstrap
    other = await WireClient.open(sim.url)
    assert other.conn.token != token
    await client.close()
    await other.close()


async def test_reconnect_with_the_previous_token_gets_a_new_one(sim: Any) -> None:
    first = await WireClient.open(sim.url)
    token = first.conn.token
    await first.close()
    again = await WireClient.open(sim.url, token=token)
    assert again.conn.token not in (token, bytes(TOKEN_SIZE))
    assert (await again.login(sim.demo_account.login, sim.demo_account.password)).code == 0
    await again.close()


async def test_other_paths_are_rejected(sim: Any) -> None:
    with pytest.raises(InvalidStatus) as err:
        await connect(sim.url.replace("/terminal", "/other"))
    assert err.value.response.status_code == 404


# --- login --------------------------------------------------------------------------------------------


async def test_login_returns_a_160_byte_blob_and_a_session(wire_client: WireClientFactory, sim: Any) -> None:
    client = await wire_client()
    frame = await client.login(sim.demo_account.login, sim.demo_account.password)
    assert frame.code == 0
    blob, session = msg.read_login_response(frame.body)
    assert len(blob) == 160 and any(blob) and session != 0


@pytest.mark.parametrize(("login", "password"), [(5000001, "wrong"), (123, "Demo1234!"), (5000001, "")])
async def test_bad_credentials_are_answered_with_code_3(
    wire_client: WireClientFactory, login: int, password: str
) -> None:
    client = await wire_client()
    assert (await client.login(login, password)).code == 3
    assert (await client.request(Command.ACCOUNT)).code == 3  # still anonymous


async def test_otp_account_needs_the_code(wire_client: WireClientFactory) -> None:
    client = await wire_client()
    assert (await client.login(OTP_LOGIN, OTP_PASSWORD)).code == 5
    assert (await client.login(OTP_LOGIN, OTP_PASSWORD, otp="000000")).code == 5
    assert (await client.login(OTP_LOGIN, OTP_PASSWORD, otp=OTP_CODE)).code == 0


async def test_relogin_with_the_returned_blob_on_a_new_connection(wire_client: WireClientFactory) -> None:
    client = await wire_client()
    frame = await client.login(OTP_LOGIN, OTP_PASSWORD, otp=OTP_CODE)
    blob, session = msg.read_login_response(frame.body)
    again = await wire_client()
    relog = await again.login(OTP_LOGIN, blob.hex(), session=session)  # no OTP needed with the blob
    assert relog.code == 0 and msg.read_login_response(relog.body)[0] != blob
    stranger = await wire_client()
    assert (await stranger.login(5000001, blob.hex())).code == 3  # a blob only works for its own login


async def test_failed_logins_lock_the_account_for_a_minute_of_sim_time(
    wire_client: WireClientFactory, sim: Any
) -> None:
    client = await wire_client()
    account = sim.demo_account
    for _ in range(MAX_FAILURES):
        assert (await client.login(account.login, "nope")).code == 3
    assert (await client.login(account.login, account.password)).code == 3  # locked: not even checked
    await sim.advance(FAILURE_WINDOW_MS)
    assert (await client.login(account.login, account.password)).code == 0


# --- the official start-up sequence and every command -------------------------------------------------


async def test_official_startup_sequence(wire_client: WireClientFactory, sim: Any) -> None:
    client = await wire_client(login=True)
    assert (await client.request(Command.PING)).code == 0
    account = msg.read_account((await client.request(Command.ACCOUNT)).body)
    assert account.main["balance"] > 0 and account.symbols_count == 25
    groups = msg.read_symbol_groups((await client.request(Command.SYMBOL_GROUPS)).body)
    assert "Forex\\Majors" in groups
    symbols = msg.read_symbols((await client.request(Command.SYMBOLS)).body)
    assert len(symbols) == 25 and symbols["trade_symbol"][0] == "EURUSD"
    compressed = msg.read_symbols_compressed((await client.request(Command.SYMBOLS_COMPRESSED)).body)
    assert (compressed == symbols).all()
    positions, orders = msg.read_opened((await client.request(Command.OPENED)).body)
    assert len(positions) == len(orders) == 0
    ids = [int(i) for i in symbols["symbol_id"][:3]]
    full = msg.read_full_symbols((await client.request(Command.FULL_SYMBOLS, msg.build_id_list([*ids, 9999]))).body)
    assert [f["symbol_id"] for f in full] == ids
    assert msg.read_spreads((await client.request(Command.SPREADS, msg.build_id_list(ids))).body) == []
    deals, history = msg.read_history((await client.request(Command.HISTORY, msg.build_history_request())).body)
    assert len(deals) == 1 and len(history) == 0  # the initial deposit
    tick_sub = await client.request(Command.SUBSCRIBE_TICKS, msg.build_id_list(ids))
    assert tick_sub.code == 0 and tick_sub.body == b""
    now_s = sim.clock.now_ms() // 1000
    bars = await client.request(Command.RATES, msg.build_rates_request("EURUSD", Period.M1, now_s - 3600, now_s))
    assert len(msg.read_bars(bars.body, Period.M1)) > 30
    book_sub = await client.request(Command.SUBSCRIBE_BOOK, msg.build_id_list([24]))
    assert book_sub.code == 0 and book_sub.body == b""
    request = {"action_id": 1, "trade_action": 2, "trade_symbol": "EURUSD", "trade_volume": 10**7, "trade_type": 0,
               "type_filling": 1, "type_flags": 2}
    trade = await client.request(Command.TRADE_REQUEST, msg.build_trade_request(request))
    assert msg.read_trade_status(trade.body) > 0  # action 2 (instant) on a market-execution symbol
    change = msg.build_change_password_request("Demo1234!", "Demo1234!")
    assert msg.read_change_password_response((await client.request(Command.CHANGE_PASSWORD, change)).body) == 0
    assert (await client.request(Command.NOTIFY, msg.build_notify_request(1))).code == 0
    links = msg.read_corporate_links((await client.request(Command.CORPORATE_LINKS)).body)
    assert links and links[0]["url"].startswith("https://")
    logout = await client.request(Command.LOGOUT)
    assert logout.code == 0 and logout.body == b""
    assert (await client.request(Command.PING)).code == 0
    assert (await client.request(Command.ACCOUNT)).code == 3  # logged out


async def test_change_password_checks_the_old_one(wire_client: WireClientFactory, sim: Any) -> None:
    client = await wire_client(login=True)
    wrong = msg.build_change_password_request("New1234!x", "not-it")
    assert msg.read_change_password_response((await client.request(Command.CHANGE_PASSWORD, wrong)).body) == 3
    right = msg.build_change_password_request("New1234!x", sim.demo_account.password)
    assert msg.read_change_password_response((await client.request(Command.CHANGE_PASSWORD, right)).body) == 0
    other = await wire_client()
    assert (await other.login(sim.demo_account.login, sim.demo_account.password)).code == 3
    assert (await other.login(sim.demo_account.login, "New1234!x")).code == 0


async def test_investor_login_cannot_trade(wire_client: WireClientFactory, sim: Any) -> None:
    client = await wire_client()
    assert (await client.login(sim.demo_account.login, sim.demo_account.investor_password)).code == 0
    request = {"action_id": 1, "trade_action": 3, "trade_symbol": "EURUSD", "trade_volume": 10**7, "type_filling": 1}
    frame = await client.request(Command.TRADE_REQUEST, msg.build_trade_request(request))
    assert msg.read_trade_status(frame.body) == 10017


async def test_configuration_connection_opens_a_usable_demo_account(wire_client: WireClientFactory) -> None:
    config = await wire_client()
    assert (await config.request(Command.TRADER_PARAMS)).code == 3  # needs command 29 first
    assert (await config.request(Command.INIT, msg.build_init_request(msg.client_id("x;1;en;1920x1080;1")))).code == 0
    assert msg.read_trader_params((await config.request(Command.TRADER_PARAMS)).body) == ("Cyprus", "USD")
    verify = await config.request(Command.VERIFY_CODES_REQUEST, msg.build_verification_request(FORM))
    assert msg.read_verification_response(verify.body) == (0, 0)
    codes = await config.request(Command.VERIFY_CODES_SUBMIT, msg.build_open_account_request(FORM))
    assert msg.read_verification_response(codes.body) == (1, 1)
    opened = msg.read_open_account_response((await config.request(Command.OPEN_DEMO,
                                                                  msg.build_open_account_request(FORM))).body)
    assert opened["result"] == 0 and opened["login"] > 0 and opened["password"]
    real = await config.request(Command.OPEN_REAL, msg.build_open_real_account_request(FORM, {"first_name": "Ada"}))
    assert msg.read_open_account_response(real.body)["result"] == 0
    assert (await config.request(Command.ACCOUNT)).code == 3  # configuration connections are never logged in

    main = await wire_client()
    assert (await main.login(opened["login"], opened["password"])).code == 0
    account = msg.read_account((await main.request(Command.ACCOUNT)).body)
    assert account.main["balance"] == 5000.0 and account.main["margin_leverage"] == 200


async def test_otp_connection_binds_and_unbinds_a_totp_generator(wire_client: WireClientFactory, sim: Any) -> None:
    secret = "JBSWY3DPEHPK3PXP"
    login, password = sim.demo_account.login, sim.demo_account.password
    otp_conn = await wire_client()
    bad = msg.build_otp_request(login, password, otp_secret=secret, otp_secret_check="000000")
    assert (await otp_conn.request(Command.OTP, bad)).code == 201
    code = totp(secret, sim.clock.now_ms())
    bind = msg.build_otp_request(login, password, otp_secret=secret, otp_secret_check=code)
    assert (await otp_conn.request(Command.OTP, bind)).code == 0
    assert (await otp_conn.request(Command.OTP, msg.build_otp_request(login, "wrong", otp=code))).code == 3

    client = await wire_client()
    assert (await client.login(login, password)).code == 5
    assert (await client.login(login, password, otp=totp(secret, sim.clock.now_ms()))).code == 0
    unbind = msg.build_otp_request(login, password, otp=totp(secret, sim.clock.now_ms()))
    assert (await otp_conn.request(Command.OTP, unbind)).code == 0
    assert (await (await wire_client()).login(login, password)).code == 0


# --- errors and ordering ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", UNSUPPORTED)
async def test_unsupported_commands_get_code_1_and_the_connection_lives_on(
    wire_client: WireClientFactory, command: int
) -> None:
    client = await wire_client(login=True)
    frame = await client.request(command, b"\x01\x02\x03")
    assert (frame.code, frame.body) == (1, b"")
    assert (await client.request(Command.PING)).code == 0


@pytest.mark.parametrize("command", [3, 4, 5, 6, 7, 9, 11, 12, 18, 20, 22, 24, 34, 42, 44])
async def test_data_commands_before_login_get_code_3(wire_client: WireClientFactory, command: int) -> None:
    client = await wire_client()
    frame = await client.request(command)
    assert (frame.code, frame.body) == (3, b"")


async def test_malformed_payload_gets_code_1(wire_client: WireClientFactory) -> None:
    client = await wire_client(login=True)
    assert (await client.request(Command.RATES, b"short")).code == 1
    assert (await client.request(Command.FULL_SYMBOLS, b"\xff\xff\xff\x00")).code == 1
    assert (await client.request(Command.PING)).code == 0


async def test_requests_of_one_command_are_answered_in_order(wire_client: WireClientFactory, sim: Any) -> None:
    client = await wire_client(login=True)
    now_s = sim.clock.now_ms() // 1000
    spans = [3600, 60, 7200, 600, 1800]
    for span in spans:
        await client.send(Command.RATES, msg.build_rates_request("EURUSD", Period.M1, now_s - span, now_s))
    await client.send(Command.PING)
    counts = [len(msg.read_bars((await client.next(Command.RATES)).body)) for _ in spans]
    now_ms = sim.clock.now_ms()
    expected = [len(msg.read_bars(sim.model.bars_wire("EURUSD", 1, now_s - s, now_s, now_ms=now_ms))) for s in spans]
    assert counts == expected
    assert (await client.next(Command.PING)).code == 0


async def test_undecryptable_frame_closes_only_that_connection(wire_client: WireClientFactory) -> None:
    bad = await wire_client(login=True)
    good = await wire_client(login=True)
    await bad.send_raw(pack_message(FrameCipher(INITIAL_KEY).encrypt(b"\0\0\x03\0")))  # wrong key
    await bad.wait_closed()
    assert bad.ws.close_code == 1002
    with pytest.raises(Closed):
        await bad.next()
    assert (await good.request(Command.PING)).code == 0
    garbage = await wire_client()
    await garbage.send_raw(b"\x01\x02")  # shorter than the outer header
    await garbage.wait_closed()
    assert (await good.request(Command.ACCOUNT)).code == 0


async def test_text_messages_are_ignored(wire_client: WireClientFactory) -> None:
    client = await wire_client(login=True)
    await client.ws.send("hello")
    assert (await client.request(Command.PING)).code == 0


async def test_update_symbol_pushes_13_and_changes_command_18(wire_client: WireClientFactory, sim: Any) -> None:
    client = await wire_client(login=True)
    anonymous = await wire_client()
    sim.update_symbol("EURUSD", trade_stops_level=15, symbol_description="Euro vs Dollar (changed)")
    (update,) = msg.read_symbol_update((await client.next(Command.SYMBOL_UPDATE)).body)
    assert update["trade_symbol"] == "EURUSD" and update["symbol_description"] == "Euro vs Dollar (changed)"
    assert update["trade"]["trade_stops_level"] == 15 and update["trade"]["symbol_path"] == "Forex\\Majors\\EURUSD"
    (full,) = msg.read_full_symbols((await client.request(Command.FULL_SYMBOLS, msg.build_id_list([1]))).body)
    assert full["symbol_description"] == "Euro vs Dollar (changed)"
    assert (await anonymous.request(Command.PING)).code == 0 and anonymous.pending() == []
    with pytest.raises(KeyError):
        sim.update_symbol("EURUSD", no_such_field=1)


async def test_connection_count(sim: Any) -> None:
    clients = [await WireClient.open(sim.url) for _ in range(3)]
    assert sim.connections == 3
    for c in clients:
        await c.close()
    async with asyncio.timeout(5):
        while sim.connections:  # the server notices closes asynchronously
            await asyncio.sleep(0)
