"""Bad input to the ``pymt5`` command: one line on stderr, a non-zero status, no traceback.

Usage errors (status 2) are found before connecting: the simulator receives nothing. Failures of the
server or the network have status 1.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pymt5_core.cli import main
from pymt5_core.wire.enums import Command

from .conftest import UNKNOWN, SimThread, sent_between

Args = Callable[[SimThread, Path], list[str]]


def _conn(sim: SimThread, login: str | None = None, password: str | None = None) -> list[str]:
    return ["--url", sim.url, "--login", login or str(sim.login), "--password", password or sim.password]


USAGE: list[tuple[str, Args]] = [
    ("no-command", lambda s, d: []),
    ("unknown-command", lambda s, d: ["frobnicate"]),
    ("unknown-option", lambda s, d: ["info", "--colour", "red", *_conn(s)]),
    ("download-without-output", lambda s, d: ["download", "EURUSD", *_conn(s)]),
    ("download-without-symbol", lambda s, d: ["download", "-o", str(d / "x.csv"), *_conn(s)]),
    ("download-unknown-timeframe", lambda s, d: ["download", "EURUSD", "-t", "M7", "-o", str(d / "x.csv"),
                                                 *_conn(s)]),
    ("download-bad-suffix", lambda s, d: ["download", "EURUSD", "-o", str(d / "x.txt"), *_conn(s)]),
    ("download-missing-directory", lambda s, d: ["download", "EURUSD", "-o", str(d / "no" / "x.csv"), *_conn(s)]),
    ("download-start-not-a-date", lambda s, d: ["download", "EURUSD", "--start", "someday", "-o",
                                                str(d / "x.csv"), *_conn(s)]),
    ("download-end-before-start", lambda s, d: ["download", "EURUSD", "--start", "2026-11-18", "--end",
                                                "2026-11-17", "-o", str(d / "x.csv"), *_conn(s)]),
    ("url-not-ws", lambda s, d: ["info", "--url", "http://127.0.0.1/terminal", "--login", "1", "--password", "x"]),
    ("login-a-word", lambda s, d: ["info", *_conn(s, login="abc")]),
    ("login-negative", lambda s, d: ["symbols", *_conn(s, login="-5")]),
    ("no-login", lambda s, d: ["info", "--url", s.url]),
    ("dump-negative-seconds", lambda s, d: ["dump", "--out", str(d / "x.jsonl"), "--seconds", "-1", *_conn(s)]),
    ("dump-seconds-a-word", lambda s, d: ["dump", "--out", str(d / "x.jsonl"), "--seconds", "soon", *_conn(s)]),
    ("demo-zero-ticks", lambda s, d: ["demo", "--ticks", "0"]),
    ("sim-port-a-word", lambda s, d: ["sim", "--port", "abc"]),
]


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("pymt5"), err
    return lines[0]


@pytest.mark.parametrize("args", [c[1] for c in USAGE], ids=[c[0] for c in USAGE])
def test_usage_errors_exit_2_before_connecting(sim_thread: SimThread, tmp_path: Path, args: Args,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PYMT5_URL", "PYMT5_LOGIN", "PYMT5_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    before = sim_thread.received()
    assert main(args(sim_thread, tmp_path)) == 2
    _one_line_error(capsys)
    assert sim_thread.received() == before
    assert not list(tmp_path.iterdir())


def test_unknown_symbol_exits_2_without_requesting_bars(sim_thread: SimThread, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    before = sim_thread.received()
    assert main(["download", UNKNOWN, "-o", str(tmp_path / "x.csv"), "--no-progress", *_conn(sim_thread)]) == 2
    assert UNKNOWN in _one_line_error(capsys)
    sent = sent_between(before, sim_thread.received())
    assert sent[Command.LOGIN] == 1 and sent[Command.RATES] == 0


@pytest.mark.parametrize(("args", "text"), [
    (lambda s: ["info", *_conn(s, password="wrong-password")], "AuthError"),
    (lambda s: ["info", "--url", s.url.replace("/terminal", "/elsewhere"), "--login", "1", "--password", "x"],
     "404"),
    (lambda s: ["info", "--url", "ws://127.0.0.1:1/terminal", "--login", "1", "--password", "x"], "Error"),
], ids=["wrong-password", "wrong-path", "nobody-listening"])
def test_server_and_network_failures_exit_1(sim_thread: SimThread, args: Callable[[SimThread], list[str]],
                                            text: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args(sim_thread)) == 1
    assert text in _one_line_error(capsys)
