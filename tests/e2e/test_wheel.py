"""The package runs from a built wheel: built here, installed in a fresh virtual environment,
and run from a folder that is not the checkout, `whereabouts --help` and a tiny nightly work.

Offline: the wheel's dependencies are not installed from a registry (uv's cache does not hold
them all, and `uv pip install --offline <wheel>` fails to resolve), so the new environment
is given the dependencies of the environment running this test through a .pth file, and the
wheel is installed into it with --no-deps. A .pth line adds that site-packages as a plain
folder: the .pth files inside it (the project's editable install among them) are not read, so
`pipelines` can only come from the wheel, which the test checks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]


def find_uv() -> Path | None:
    """uv as the Makefile installs it: in this checkout, beside the environment running the
    tests (a worktree shares the main checkout's), or on PATH."""
    for candidate in (ROOT / ".tools" / "bin" / "uv", Path(sys.prefix).parent / ".tools/bin/uv"):
        if candidate.is_file():
            return candidate
    found = shutil.which("uv")
    return Path(found) if found else None


def run(argv: list, cwd: Path, env: dict[str, str], timeout: float = 300):
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr[-3000:]}"
    return done


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    work: Path  # the folder commands run in: not the checkout
    env: dict[str, str]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel, built and installed in a fresh virtual environment."""
    base = tmp_path_factory.mktemp("wheel")
    uv = find_uv()
    if uv is None:
        pytest.skip("uv not found (make setup installs it in .tools/)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env |= {"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1", "UV_OFFLINE": "1"}
    env.pop("PREFECT_API_URL", None)  # the nightly starts its own temporary server
    dist, venv = base / "dist", base / "venv"
    run([uv, "build", "--wheel", "--out-dir", dist, ROOT], base, env)
    (wheel,) = dist.glob("whereabouts-*.whl")
    # The interpreter the project's environment was made from (not its venv's python).
    python = getattr(sys, "_base_executable", sys.executable)
    run([uv, "venv", "--python", python, venv], base, env)
    run([uv, "pip", "install", "--no-deps", "--python", venv / "bin" / "python", wheel], base, env)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(run([venv / "bin" / "python", "-c", purelib], base, env).stdout.strip())
    (site / "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = base / "work"
    work.mkdir()
    env |= {
        # schemas/ (declarations, contracts, classification) are the project's, not the wheel's
        "WHEREABOUTS_PROJECT": str(ROOT),
        "WHEREABOUTS_KEY_FILE": str(base / "key"),
        # Prefect's state in the temporary folder, not <checkout>/.prefect
        "PREFECT_HOME": str(base / "prefect"),
    }
    return Installed(wheel, venv, work, env)


def test_the_wheel_holds_the_sql_models_and_not_the_benchmark(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert "pipelines/warehouse/sql/marts/episodes.sql" in names
    assert not [n for n in names if n.startswith(("benchmarks/", "tests/"))]
    where = run(
        [installed.venv / "bin" / "python", "-c", "import pipelines; print(pipelines.__file__)"],
        installed.work,
        installed.env,
    ).stdout.strip()
    package = Path(where).parent
    assert package.is_relative_to(installed.venv), where  # the wheel's copy, not the checkout's
    assert (package / "warehouse" / "sql" / "marts" / "episodes.sql").is_file()
    assert not (package.parent / "benchmarks").exists()


def test_help_and_a_tiny_nightly_from_the_wheel(installed: Installed) -> None:
    whereabouts, work, env = installed.venv / "bin" / "whereabouts", installed.work, installed.env
    helped = run([whereabouts, "--help"], work, env, timeout=120)
    assert helped.stdout.startswith("usage: whereabouts ")
    assert "nightly" in helped.stdout

    run([whereabouts, "synth", "--out", "raw", "--only", "southbay", "--scale", "0.05"], work, env)
    night = run(
        [whereabouts, "nightly", "--raw", "raw", "--db", "cur.duckdb", "--work-db", "work.duckdb",
         "--reports", "rep", "--prefect"],
        work,
        env,
        timeout=600,
    )  # fmt: skip
    (line,) = [x for x in night.stdout.splitlines() if x.startswith("  curated: ")]
    printed = int(line.split()[1])  # "  curated: 164 episodes, 59 children"
    con = duckdb.connect(str(work / "cur.duckdb"), read_only=True)
    (count,) = con.execute("select count(*) from episodes").fetchone()
    con.close()
    assert count == printed > 0
    # Asked to run as a Prefect flow: its temporary server ran, with the installed package.
    assert (Path(env["PREFECT_HOME"]) / "server.log").exists()
