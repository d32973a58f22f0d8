"""The pymt5 command line against the embedded simulator (in-process ``main([...])``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pymt5_core.cli import main
from pymt5_core.dump import REDACTED, record_session
from pymt5_core.sim import SimServer
from pymt5_core.sim.market.clock import VirtualClock

NOW_MS = 1_710_331_200_000  # Wednesday 2024-03-13 12:00 UTC


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PYMT5_URL", "PYMT5_LOGIN", "PYMT5_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def test_info_uses_the_embedded_simulator(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info"]) == 0
    out, err = capsys.readouterr()
    assert "embedded simulator" in err
    assert "pymt5-Sim" in out and "balance" in out and "10,000.00" in out


def test_symbols_with_a_group_mask(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["symbols", "--group", "*USD*,!*JPY*"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert "EURUSD" in names and "GBPUSD" in names
    assert not any("JPY" in n for n in names) and all("USD" in n for n in names)


def test_download_to_csv_parquet_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "eurusd.csv"
    assert main(["download", "EURUSD", "-t", "H1", "--start", "2024-03-11", "--end", "2024-03-12T23:59:59",
                 "-o", str(csv), "--no-progress"]) == 0
    df = pd.read_csv(csv, index_col="time", parse_dates=True)
    assert len(df) == 48 and list(df.columns[:4]) == ["open", "high", "low", "close"]
    pq, png = tmp_path / "fx.parquet", tmp_path / "fx.png"
    assert main(["download", "EURUSD", "GBPUSD", "-t", "H4", "--start", "2024-03-04", "--end", "2024-03-08",
                 "-o", str(pq), "--plot", str(png)]) == 0
    multi = pd.read_parquet(pq)
    assert multi.columns.nlevels == 2 and set(multi.columns.get_level_values(0)) == {"EURUSD", "GBPUSD"}
    assert png.stat().st_size > 1000


def test_download_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["download", "EURUSD", "-t", "M7", "-o", str(tmp_path / "x.csv")]) == 2
    assert "unknown timeframe" in capsys.readouterr().err
    assert main(["download", "EURUSD", "-o", str(tmp_path / "x.txt")]) == 2


def test_dump_command_writes_redacted_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "session.jsonl"
    assert main(["dump", "--out", str(out), "--seconds", "0.2"]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    names = {line["name"] for line in lines}
    assert {"BOOTSTRAP", "LOGIN", "ACCOUNT", "RATES"} <= names
    login = next(line for line in lines if line["name"] == "LOGIN" and line["dir"] == "send")
    assert login["fields"]["password"] == REDACTED and login["fields"]["password_blob"] == REDACTED
    assert login["fields"]["otp"] == REDACTED and login["fields"]["login"] > 0


async def test_dump_never_contains_the_password_or_the_blob(tmp_path: Path) -> None:
    out = tmp_path / "session.jsonl"
    async with SimServer(seed=1, clock=VirtualClock(60.0, start_ms=NOW_MS)) as sim:
        account = sim.demo_account
        count = await record_session(sim.url, out, account.login, account.password, seconds=0.2)
        blobs = [blob.hex() for creds in sim.auth._accounts.values() for blob in creds.blobs]
    text = out.read_text()
    assert count == len(text.splitlines()) > 5
    assert blobs and account.password
    assert account.password not in text
    for blob in blobs:
        assert blob not in text and blob[:32] not in text
    reply = next(json.loads(x) for x in text.splitlines() if '"LOGIN"' in x and '"recv"' in x)
    assert reply["fields"] == {"password_blob": REDACTED, "session": REDACTED}
    boot = next(json.loads(x) for x in text.splitlines() if '"BOOTSTRAP"' in x and '"recv"' in x)
    assert boot["fields"] == {"token": REDACTED, "key": REDACTED} and "raw" not in boot


def test_demo_runs_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--ticks", "5"]) == 0
    out = capsys.readouterr().out
    assert "account" in out and "DataFrame" in out and "retcode 10009" in out and "sections in" in out


def test_sim_delegates_to_the_simulator_cli(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sim", "--help"])
    assert exc.value.code == 0
    assert "usage" in capsys.readouterr().out.lower()
