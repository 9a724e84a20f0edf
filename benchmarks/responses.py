"""How long a person waits for `whereabouts` to answer, on the demo data, against its targets.

Four answers, each a whole `whereabouts` process from the shell timed by the kernel
(benchmarks.process.measure), the median of `--repeats` runs:

- a bad argument (a month that does not exist), target <= 1 s;
- a bad path (a raw folder that does not exist), target <= 1 s;
- `whereabouts briefing` by hand for the last complete month, target <= 5 s;
- a nightly with nothing new, target <= 6 s.

Run: `python -m benchmarks.responses [--quick] [--out DIR]`; `make bench` runs it. It writes
docs/benchmarks.md's "responses" section and docs/benchmarks-responses.json. `--quick`
(a fifth of the demo's volume, one repeat) is for tests of the benchmark itself and writes no
docs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from benchmarks.process import ROOT, key_outside_project, machine, measure, write_section

UNTIL = "2026-10"  # the demo data's last month, fixed so runs compare
TARGETS = {"argument_error": 1.0, "path_error": 1.0, "briefing": 5.0, "nothing_new": 6.0}
LABELS = {
    "argument_error": "a bad argument (`briefing --month 2026-13`)",
    "path_error": "a bad path (`nightly --raw <missing folder>`)",
    "briefing": "`briefing` by hand",
    "nothing_new": "`nightly` with nothing new",
}
# Exit statuses each answer is expected to end with: argparse's usage error is 2, a known
# failure 1; a nightly with nothing new asks for attention (3) as every source is quiet.
EXPECT = {"argument_error": (2,), "path_error": (1,), "briefing": (0,), "nothing_new": (0, 3)}


def commands(out: Path) -> dict[str, list[str]]:
    """The command line of each answer, as a user types it."""
    tool = str(Path(sys.executable).parent / "whereabouts")
    db = ["--db", str(out / "curated" / "whereabouts.duckdb")]
    return {
        "argument_error": [tool, "briefing", "--month", "2026-13"],
        "path_error": [tool, "nightly", "--raw", str(out / "nowhere")],
        "briefing": [tool, "briefing", "--month", UNTIL, *db, "--out", str(out / "briefings")],
        "nothing_new": [tool, "nightly", "--raw", str(out / "raw"), *db,
                        "--reports", str(out / "reports")],
    }  # fmt: skip


def environment(out: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)  # each command as from a plain shell
    env |= {"WHEREABOUTS_KEY_FILE": str(key_outside_project(out)), "WHEREABOUTS_PROGRESS": "never"}
    return env


def prepare(out: Path, scale: float, env: dict[str, str]) -> None:
    """The demo's synthetic extracts and a first nightly over them (not measured)."""
    tool = str(Path(sys.executable).parent / "whereabouts")
    measure("synth", [tool, "synth", "--out", out / "raw", "--until", UNTIL, "--scale", scale],
            out, env)  # fmt: skip
    measure("first nightly", commands(out)["nothing_new"], out, env, expect=(0, 3))


def run(out: Path, scale: float, repeats: int) -> dict:
    env = environment(out)
    key_outside_project(out).parent.mkdir(parents=True, exist_ok=True)
    prepare(out, scale, env)
    figures = {}
    for name, argv in commands(out).items():
        runs = [measure(name, argv, out, env, expect=EXPECT[name]) for _ in range(repeats)]
        seconds = statistics.median(r["seconds"] for r in runs)
        figures[name] = {
            "seconds": seconds,
            "runs": [r["seconds"] for r in runs],
            "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
            "target_seconds": TARGETS[name],
            "pass": seconds <= TARGETS[name],
        }
    return {"machine": machine(), "scale": scale, "repeats": repeats, "figures": figures}


def table(report: dict) -> str:
    lines = [
        "| answer | seconds (median) | runs | process CPU s | target | result |",
        "|---|---|---|---|---|---|",
    ]
    for name, f in report["figures"].items():
        lines.append(
            f"| {LABELS[name]} | {f['seconds']:.2f} | "
            f"{', '.join(f'{s:.2f}' for s in f['runs'])} | {f['cpu_seconds']:.2f} | "
            f"≤ {f['target_seconds']:g} | {'pass' if f['pass'] else 'miss'} |"
        )
    m = report["machine"]
    lines.append(
        f"\n{m['date']}, {m['cores']} cores, load average {m['load_average']} at the end; "
        f"demo data at scale {report['scale']}, median of {report['repeats']} runs each."
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--quick", action="store_true", help="a fifth of the volume, one run")
    options.add_argument("--out", type=Path, default=Path("/tmp/whereabouts-bench-responses"))
    options.add_argument("--repeats", type=int, default=3)
    args = options.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        print(f"{args.out} is not empty: give an empty or new --out", file=sys.stderr)
        return 2
    report = run(args.out, 0.2 if args.quick else 1.0, 1 if args.quick else args.repeats)
    text = table(report)
    print(text)
    (args.out / "responses.json").write_text(json.dumps(report, indent=2) + "\n")
    if not args.quick:
        (ROOT / "docs" / "benchmarks-responses.json").write_text(
            json.dumps(report, indent=2) + "\n"
        )
        write_section(ROOT / "docs" / "benchmarks.md", "responses", "## Response times\n\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
