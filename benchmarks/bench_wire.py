"""Wire-layer throughput against bare numpy/pandas and bare ``cryptography`` on the same bytes.

Prints, for each case, our best time, the baseline's best time and ``ours/baseline`` as a speed ratio
(baseline time / our time: 1.0 = as fast as the baseline, 0.5 = half as fast), measured in this run:

(a) decode 1M bars (48 MB): ``read_bars`` -> numpy, and -> DataFrame with a UTC DatetimeIndex,
    vs ``numpy.frombuffer`` with the same dtype (+ ``pandas.DataFrame``);
(b) the same for 1M ticks (50 MB) with ``read_ticks``;
(c) decrypt a 50 MB frame: ``FrameCipher.decrypt`` vs a bare AES-CBC decryptor ``update`` + ``finalize``.

Run: ``python benchmarks/bench_wire.py`` (about 30 s).
"""

from __future__ import annotations

import gc
import time
import timeit
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pymt5_core.wire import LAYOUTS
from pymt5_core.wire.frames import FrameCipher
from pymt5_core.wire.messages import read_bars, read_ticks

N_RECORDS = 1_000_000
FRAME_BYTES = 50 * 1024 * 1024
REPEATS = 5
TARGETS = {"bars": 0.5, "ticks": 0.5, "decrypt": 0.8}


def best_of(fn: Callable[[], Any], repeats: int = REPEATS) -> float:
    """Seconds per call: the fastest of ``repeats`` samples, each long enough (>= 0.2 s) to time well.

    Sub-microsecond calls (the zero-copy views) are looped inside a sample so that timer resolution and
    scheduling noise do not dominate.
    """
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    gc.collect()
    return min(timer.repeat(repeat=repeats, number=number)) / number


def fmt(seconds: float) -> str:
    return f"{seconds * 1e3:9.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:9.3f} us"


def report(label: str, ours: float, baseline: float, target: float) -> bool:
    ratio = baseline / ours
    ok = ratio >= target
    print(f"{label:<46} ours {fmt(ours)}   baseline {fmt(baseline)}   ours/baseline {ratio:5.2f}   "
          f"target >= {target:.2f} {'ok' if ok else 'MISSED'}")
    return ok


# --- data ---------------------------------------------------------------------------------------------


def bars_body(rng: np.random.Generator) -> bytes:
    bars = LAYOUTS["Bar"].empty_array(N_RECORDS)
    bars["time"] = 1_500_000_000 - 1_500_000_000 % 60 + 60 * np.arange(N_RECORDS)
    close = 1.1 + np.cumsum(rng.normal(0, 1e-4, N_RECORDS))
    bars["open"], bars["close"] = close - 5e-5, close
    bars["high"], bars["low"] = close + 2e-4, close - 2e-4
    bars["tick_volume"] = rng.integers(1, 500, N_RECORDS)
    return bars.tobytes()


def ticks_body(rng: np.random.Generator) -> bytes:
    ticks = LAYOUTS["Tick"].empty_array(N_RECORDS)
    ticks["symbol_id"] = 1
    ticks["tick_time"] = 1_700_000_000 + np.arange(N_RECORDS) // 4
    ticks["time_ms_delta"] = (np.arange(N_RECORDS) % 4) * 250
    ticks["fields"] = 3
    ticks["bid"] = np.round(108_000 + np.cumsum(rng.integers(-3, 4, N_RECORDS)))
    ticks["ask"] = ticks["bid"] + 10
    return ticks.tobytes()


# --- (a), (b) decoding --------------------------------------------------------------------------------


def bars_frame(body: bytes) -> pd.DataFrame:
    """Our path: read_bars, then one DataFrame indexed by UTC bar time."""
    bars = read_bars(body)
    index = pd.DatetimeIndex(pd.to_datetime(bars["time"], unit="s", utc=True), name="time")
    return pd.DataFrame({name: bars[name] for name in LAYOUTS["Bar"].fields[1:]}, index=index)


def ticks_frame(body: bytes) -> pd.DataFrame:
    """Our path: read_ticks, then one DataFrame indexed by UTC tick time in ms (seconds*1000 + ms part)."""
    ticks = read_ticks(body)
    ms = ticks["tick_time"].astype("<i8") * 1000 + ticks["time_ms_delta"]
    index = pd.DatetimeIndex(pd.to_datetime(ms, unit="ms", utc=True), name="time")
    columns = ("symbol_id", "fields", "bid", "ask", "last", "tick_volume", "flags")
    return pd.DataFrame({name: ticks[name] for name in columns}, index=index)


def bench_decoding(kind: str, body: bytes, reader: Callable[[bytes], Any], to_frame: Callable[[bytes], Any],
                   dtype: np.dtype[Any]) -> list[bool]:
    assert reader(body).tobytes() == np.frombuffer(body, dtype).tobytes()
    frame = to_frame(body)
    assert len(frame) == N_RECORDS and str(frame.index.tz) == "UTC"
    return [
        report(f"({kind}) 1M {kind}: read -> numpy", best_of(lambda: reader(body)),
               best_of(lambda: np.frombuffer(body, dtype)), TARGETS[kind]),
        report(f"({kind}) 1M {kind}: read -> DataFrame (UTC index)", best_of(lambda: to_frame(body)),
               best_of(lambda: pd.DataFrame(np.frombuffer(body, dtype))), TARGETS[kind]),
    ]


# --- (c) decryption -----------------------------------------------------------------------------------


def bench_decrypt(rng: np.random.Generator) -> bool:
    key = rng.bytes(32)
    plaintext = rng.bytes(FRAME_BYTES - 5)
    cipher = FrameCipher(key)
    ciphertext = cipher.encrypt(plaintext)
    assert cipher.decrypt(ciphertext) == plaintext

    def bare() -> bytes:
        dec = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).decryptor()
        return dec.update(ciphertext) + dec.finalize()

    return report(f"(c) decrypt {len(ciphertext) / 2**20:.0f} MB frame", best_of(lambda: cipher.decrypt(ciphertext)),
                  best_of(bare), TARGETS["decrypt"])


def main() -> int:
    rng = np.random.default_rng(20240501)
    start = time.perf_counter()
    print(f"bench_wire: best of {REPEATS} samples; ours/baseline = baseline time / our time (higher is better)")
    results = bench_decoding("bars", bars_body(rng), read_bars, bars_frame, LAYOUTS["Bar"].dtype)
    results += bench_decoding("ticks", ticks_body(rng), read_ticks, ticks_frame, LAYOUTS["Tick"].dtype)
    results.append(bench_decrypt(rng))
    print(f"bench_wire: {sum(results)}/{len(results)} targets met in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
