"""Run every ``benchmarks/bench_*.py`` in its own Python process, in name order, and print their output.

New benchmark files are picked up automatically. Exit status: 0 when every benchmark exited 0, else 1
(the remaining benchmarks still run). Usage: ``python benchmarks/run.py [NAME_FILTER]``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main(argv: list[str]) -> int:
    wanted = argv[0] if argv else ""
    scripts = [p for p in sorted(HERE.glob("bench_*.py")) if wanted in p.stem]
    if not scripts:
        print(f"no benchmarks/bench_*.py matching {wanted!r}")
        return 1
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    failed = []
    for script in scripts:
        print(f"=== {script.name}", flush=True)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, stderr=subprocess.STDOUT, check=False)
        print(f"=== {script.name}: exit {result.returncode} in {time.perf_counter() - start:.1f} s\n", flush=True)
        if result.returncode:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
