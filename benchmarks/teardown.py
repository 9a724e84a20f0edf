"""How long Python takes to tear down a flow command's modules at exit, against ending the
process once the exit handlers have run (`pipelines.cli.main._leave`).

`python -m benchmarks.teardown [--runs N]`: each run is a fresh process that imports the
nightly's modules (Prefect, Great Expectations, pandas, DuckDB), prints the time, and exits
one way or the other; the figure is the wall time from that print to the process's end.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CHILD = """
import atexit, os, sys, time
import pipelines.orchestration.flows
from pipelines.quality.suites import load_gx
load_gx()
print(time.time(), flush=True)
if sys.argv[1] == "leave":
    atexit._run_exitfuncs()
    os._exit(0)
"""


def teardown_seconds(mode: str) -> float:
    """Seconds from the child's last statement to its exit, in `mode` (normal or leave)."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True
    )
    return time.time() - float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    for mode in ("normal", "leave"):
        figures = [teardown_seconds(mode) for _ in range(runs)]
        print(
            f"{mode:>6} exit: median {statistics.median(figures):.2f} s "
            f"(min {min(figures):.2f}, max {max(figures):.2f}, {runs} runs)"
        )


if __name__ == "__main__":
    main()
