"""What every benchmark shares: a figure is a whole process, measured by the kernel.

`measure` starts a process with Popen and reaps it with os.wait4, so its wall time and peak
memory (ru_maxrss: the largest of the process and any child it reaped) include imports and
start-up, as the nightly job pays them. `measure_child` runs one task of a benchmark module
(`python -m <module> --child TASK JSON`) that times its own work and prints it as JSON on its
last line. The measuring process stays small (no numpy, DuckDB or pandas): Popen uses vfork,
and exec records the high-water mark of the memory it leaves, so a child's ru_maxrss is never
below its parent's peak.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class StepFailed(RuntimeError):
    """A measured process exited non-zero; the message carries its stderr tail."""


def measure(
    name: str, argv: list, out: Path, env: dict[str, str], expect: tuple[int, ...] = (0,)
) -> dict:
    """Run one process to completion: its wall seconds, peak RSS and stdout lines; an exit
    status not in `expect` raises StepFailed."""
    (logs := out / "logs").mkdir(parents=True, exist_ok=True)
    stdout, stderr = logs / f"{name}.stdout", logs / f"{name}.stderr"
    print(f"bench: {name} ...", file=sys.stderr, flush=True)
    # Output goes to files, not pipes: nothing reads while we wait, so a pipe could fill.
    with stdout.open("wb") as o, stderr.open("wb") as e:
        start = time.perf_counter()
        proc = subprocess.Popen([str(a) for a in argv], stdout=o, stderr=e, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    # Reaped here, not by Popen: tell it, so it neither waits again nor warns.
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in expect:
        tail = "\n".join(stderr.read_text(errors="replace").splitlines()[-20:])
        raise StepFailed(f"{name} exited {proc.returncode}; stderr ends:\n{tail}")
    kib, output = usage.ru_maxrss, stdout.read_text(errors="replace").splitlines()[-10:]
    # CPU beside wall time: on a shared machine the wall time says how busy the others were.
    cpu = usage.ru_utime + usage.ru_stime
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "peak_rss_kib": kib,
            "peak_rss_mib": round(kib / 1024, 1), "output": output,
            "exit": proc.returncode}  # fmt: skip


def measure_child(
    module: str, name: str, args: dict, out: Path, env: dict[str, str], task: str | None = None
) -> dict:
    """A child of `module` (task `task`, else `name`) that times its own work and prints it
    as JSON on its last line: the target is the work alone, while wall time and memory still
    cover the whole process."""
    argv = [sys.executable, "-m", module, "--child", task or name, json.dumps(args)]
    figure = measure(name, argv, out, env)
    inner = json.loads(figure.pop("output")[-1])
    figure["wall_seconds"] = figure.pop("seconds")
    return {"seconds": inner.pop("seconds")} | figure | inner


def run_child(tasks: dict[str, Callable[..., dict]], task: str, options: str) -> int:
    """The child's side of measure_child: run the task, print its figures as JSON."""
    print(json.dumps(tasks[task](**json.loads(options))))
    return 0


def key_outside_project(out: Path) -> Path:
    """A pseudonymisation key file for the benchmark's children, outside the project (the
    pipeline refuses a key inside it, and --out defaults to reports/): one per --out folder,
    in the system's temporary folder."""
    tag = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"whereabouts-bench-{tag}" / "key"


def machine() -> dict:
    """The machine a benchmark ran on, and when."""

    def proc_field(file: str, key: str) -> str:
        p = Path("/proc", file)
        lines = p.read_text().splitlines() if p.exists() else []
        return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith(key)), "")

    mem_kib = proc_field("meminfo", "MemTotal").split(" ")[0]
    return {"platform": platform.platform(),
            "cpu": proc_field("cpuinfo", "model name") or platform.processor(),
            "cores": os.cpu_count(),
            "memory_gib": round(int(mem_kib) / 1024**2, 1) if mem_kib else None,
            "python": platform.python_version(), "duckdb": importlib.metadata.version("duckdb"),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}  # fmt: skip


def write_section(path: Path, name: str, text: str) -> None:
    """Put `text` into the markdown file between the markers of section `name` (each
    benchmark writes its own section of docs/benchmarks.md), appended if it has none."""
    begin, end = f"<!-- begin {name} -->\n", f"<!-- end {name} -->\n"
    block = begin + text.rstrip("\n") + "\n" + end
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = old + ("\n" if old else "") + block
    path.write_text(new, encoding="utf-8")
