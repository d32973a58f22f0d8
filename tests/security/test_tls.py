"""TLS: the client verifies the server certificate unless told otherwise, on every entry point.

The simulator serves ``wss://`` with a CA and certificate generated for the test (``SimServer(tls=True)``):
a certificate no system trust store knows, so a client that verifies by default must refuse it.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import pymt5_core.mt5 as mt5
from pymt5_core import MT5Client
from pymt5_core.errors import InvalidRequest
from pymt5_core.session import make_ssl_context
from pymt5_core.sim import SimServer
from pymt5_core.sim.tls import generate_tls
from pymt5_core.sync import MT5ClientSync, connect
from tests.security.conftest import sim_in_thread


@pytest.fixture
async def tls_sim() -> AsyncIterator[SimServer]:
    async with SimServer(seed=1, tls=True) as sim:
        yield sim


def test_a_wss_context_verifies_certificate_and_host_name_by_default() -> None:
    context = make_ssl_context("wss://broker.example/terminal")
    assert context is not None
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname


def test_tls_options_on_a_plain_ws_url_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        make_ssl_context("ws://127.0.0.1:1/terminal", ca_file="ca.pem")


async def test_the_client_refuses_the_simulators_self_signed_certificate_by_default(tls_sim: SimServer) -> None:
    client = MT5Client(tls_sim.url, timeout=5.0, reconnect=False)
    with pytest.raises(ssl.SSLCertVerificationError):
        await client.connect()
    await client.disconnect()
    assert tls_sim.connections == 0


async def test_a_ca_of_another_authority_is_refused_too(tls_sim: SimServer, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    other.write_text(generate_tls().ca_pem)
    client = MT5Client(tls_sim.url, ca_file=str(other), timeout=5.0, reconnect=False)
    with pytest.raises(ssl.SSLCertVerificationError):
        await client.connect()
    await client.disconnect()


@pytest.mark.parametrize("how", ["ssl_context", "ca_file"])
async def test_the_client_works_with_the_simulators_ca(tls_sim: SimServer, tmp_path: Path, how: str) -> None:
    if how == "ssl_context":
        client = MT5Client(tls_sim.url, ssl=tls_sim.ssl_context_for_clients(), timeout=5.0)
    else:
        ca = tmp_path / "sim-ca.pem"
        ca.write_text(tls_sim.ca_pem or "")
        client = MT5Client(tls_sim.url, ca_file=str(ca), timeout=5.0)
    async with client:
        account = await client.login(tls_sim.demo_account.login, tls_sim.demo_account.password)
        assert account.login == tls_sim.demo_account.login


async def test_the_explicit_opt_out_connects_and_says_so_in_the_log(
    tls_sim: SimServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pymt5_core")
    async with MT5Client(tls_sim.url, verify_tls=False, timeout=5.0) as client:
        account = await client.login(tls_sim.demo_account.login, tls_sim.demo_account.password)
        assert account.login == tls_sim.demo_account.login
    assert any("verification is disabled" in r.getMessage() for r in caplog.records)


def test_the_blocking_entry_points_verify_by_default() -> None:
    with sim_in_thread(seed=1, tls=True) as sim:
        login, password = sim.demo_account.login, sim.demo_account.password
        with pytest.raises(ssl.SSLCertVerificationError):
            connect(sim.url, login, password, timeout=5.0)
        try:
            assert mt5.initialize(server=sim.url, login=login, password=password, timeout=5000) is False
            assert mt5.last_error()[0] != mt5.RES_S_OK
        finally:
            mt5.shutdown()
        with MT5ClientSync(sim.url, verify_tls=False, timeout=5.0) as client:
            assert client.login(login, password).login == login
