"""`whereabouts serve` against a real Prefect server: the deployments it registers, their
schedules, one run of each on synthetic extracts, and a shutdown that leaves nothing running."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings

from pipelines.briefing.months import previous_month
from pipelines.orchestration.prefect_api import LocalServer, local_server
from pipelines.synth import generate

ROOT = Path(__file__).resolve().parents[2]
NIGHTLY = "nightly/nightly"
BRIEFING = "monthly-briefing/monthly-briefing"
EXPECTED = {NIGHTLY: "30 2 * * *", BRIEFING: "0 6 1 * *"}


def environment(base: Path) -> dict[str, str]:
    """A private Prefect home and key; no server inherited from the test process."""
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    env["PREFECT_HOME"] = str(base / "prefect-home")
    env["WHEREABOUTS_KEY_FILE"] = str(base / "key")
    # Pick up a triggered run within a second rather than the default ten.
    env["PREFECT_RUNNER_POLL_FREQUENCY"] = "1"
    return env


@contextmanager
def client(url: str) -> Iterator[SyncPrefectClient]:
    with temporary_settings(updates={PREFECT_API_URL: url}), get_client(sync_client=True) as c:
        yield c


@contextmanager
def serving(
    env: dict[str, str], cwd: Path, port: int = 0
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`whereabouts serve` as a subprocess; stopped with SIGTERM (killed if it hangs)."""
    log = cwd / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines", "serve", "--port", str(port)],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            # As under a service manager: signals meant for the test's group never reach it.
            start_new_session=True,
        )
    try:
        yield process, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for_deployments(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 150
) -> dict:
    deadline = time.monotonic() + timeout
    with client(url) as c:
        while time.monotonic() < deadline:
            assert process.poll() is None, f"serve exited early:\n{log.read_text()}"
            found = {}
            for name in EXPECTED:
                try:
                    found[name] = c.read_deployment_by_name(name)
                except Exception:  # not registered yet (ObjectNotFound) or server busy
                    break
            else:
                return found
            time.sleep(1)
    raise AssertionError(f"deployments never appeared on {url}:\n{log.read_text()}")


def stop_and_check(process: subprocess.Popen[bytes], log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log.read_text()


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServer, Path]]:
    """`prefect server start` on a free local port with its state in a temporary folder."""
    base = tmp_path_factory.mktemp("prefect")
    with local_server(environment(base)) as running:
        yield running, base
    assert gone(running.pid)


def test_serve_registers_and_runs_both_schedules(
    server: tuple[LocalServer, Path], tmp_path: Path
) -> None:
    running, base = server
    # The briefing's default month is the one before today in London: make data up to it.
    today = datetime.now(ZoneInfo("Europe/London")).date()
    month = previous_month(today)
    raw = tmp_path / "raw"
    generate(raw, seed=3, scale=0.1, until=month)
    db = tmp_path / "curated" / "whereabouts.duckdb"
    env = {**environment(base), "PREFECT_API_URL": running.url}

    with serving(env, tmp_path) as (process, log):
        found = wait_for_deployments(running.url, process, log)
        for name, cron in EXPECTED.items():
            (schedule,) = found[name].schedules
            assert schedule.schedule.cron == cron
            assert schedule.schedule.timezone == "Europe/London"
            assert schedule.active and not found[name].paused

        with temporary_settings(updates={PREFECT_API_URL: running.url}):
            nightly_run = run_deployment(
                NIGHTLY,
                parameters={
                    "raw_dir": str(raw),
                    "sources_dir": str(ROOT / "schemas" / "sources"),
                    "db": str(db),
                    "work_db": str(tmp_path / "work" / "work.duckdb"),
                    "as_of": today.isoformat(),
                    "validation_dir": str(tmp_path / "validation"),
                },
                timeout=150,
                poll_interval=1,
            )
            assert nightly_run.state.is_completed(), (nightly_run.state, log.read_text())
            assert db.exists()
            assert list((tmp_path / "validation").glob("*.html"))

            briefing_run = run_deployment(
                BRIEFING,
                parameters={"db": str(db), "out_dir": str(tmp_path / "briefings")},
                timeout=120,
                poll_interval=1,
            )
            assert briefing_run.state.is_completed(), (briefing_run.state, log.read_text())
        pdf = tmp_path / "briefings" / f"whereabouts-briefing-{month}.pdf"
        assert pdf.read_bytes().startswith(b"%PDF")

        stop_and_check(process, log)
    # Prefect pauses served schedules when serve stops: nothing piles up as late runs.
    with client(running.url) as c:
        assert all(c.read_deployment_by_name(name).paused for name in EXPECTED)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def documented_deployment_ls(url: str) -> str:
    """`PREFECT_API_URL=... .venv/bin/prefect deployment ls` from the project folder, as
    docs/operations.md gives it, from a shell with none of the project's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DO_NOT"))}
    env |= {"PREFECT_API_URL": url, "COLUMNS": "200"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "prefect"), "deployment", "ls"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "telemetry" not in done.stderr, done.stderr
    return done.stdout


def test_serve_without_a_server_starts_one_and_stops_it(tmp_path: Path) -> None:
    port = free_port()
    with serving(environment(tmp_path), tmp_path, port) as (process, log):
        deadline = time.monotonic() + 150
        while "Prefect server for the schedules:" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        line = next(x for x in log.read_text().splitlines() if "for the schedules:" in x)
        url = line.split(": ", 1)[1].split()[0]
        pid = int(line.split("(pid ", 1)[1].split(",")[0])
        assert url == f"http://127.0.0.1:{port}/api"
        assert (tmp_path / "prefect-home" / "server.log").exists()
        # The UI is told where the API really is (left alone, Prefect says port 4200).
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{port}/ui-settings", timeout=10) as r:
            assert json.load(r)["api_url"] == url

        wait_for_deployments(url, process, log)
        listed = documented_deployment_ls(url)
        assert NIGHTLY in listed and BRIEFING in listed, listed
        stop_and_check(process, log)
    assert gone(pid), f"the Prefect server (pid {pid}) outlived serve"


def test_serve_refuses_a_port_in_use_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "pipelines", "serve", "--port", str(port)],
            env=environment(tmp_path),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert done.stderr == (
        f"whereabouts serve: port {port} on 127.0.0.1 is in use (another serve or Prefect "
        "server?); stop it or choose another with --port\n"
    )
