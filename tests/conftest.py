"""Shared fixtures: one Prefect test harness per session, a private key per test run, and a
way to build the curated database from hand-made episode versions.

Tests live in one folder per kind, and each is marked by its folder (`-m unit`, `-m sql`,
`-m e2e`): unit tests call plain functions (tiny DuckDB files at most); sql tests build the
curated database with the real SQL models from hand-made rows; e2e tests run Prefect flows,
the command line as a process, the generator at scale, the briefing PDF, notebooks, the
benchmark or the built wheel. This is the only conftest.py: the test modules import its
helpers as `conftest`, which a second conftest.py in a sub-folder would shadow.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipelines.ingest.working_store import EPISODE_COLUMNS, insert_frame, open_work
from pipelines.sources.declarations import Source
from pipelines.warehouse.build import build

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
KINDS = ("unit", "sql", "e2e")
# Property tests build many tiny databases: in memory-backed storage where there is one.
FAST_DIR = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
# `make test-fast` (the quick loop while working) sets this: each property test draws a tenth
# of its examples there; `make test`, which CI runs, draws every one.
FAST_LOOP = os.environ.get("WHEREABOUTS_TESTS") == "fast"


def examples(n: int) -> int:
    """A property test's number of examples (or seeds): `n`, or a tenth of it (at least 2)
    in the quick loop."""
    return max(2, n // 10) if FAST_LOOP else n


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its folder's kind; a test outside the kind folders is an error.

    Property tests (Hypothesis) run first: each is one long test, and started last it would
    leave one xdist worker running it alone while the other sits idle.
    """
    items.sort(key=lambda item: not getattr(item.function, "is_hypothesis_test", False))
    for item in items:
        path = Path(item.path).resolve()
        if not path.is_relative_to(TESTS):
            continue
        kind = path.relative_to(TESTS).parts[0]
        if kind not in KINDS:
            raise pytest.UsageError(f"{item.nodeid}: tests live in tests/{{{','.join(KINDS)}}}/")
        item.add_marker(getattr(pytest.mark, kind))


@pytest.fixture(scope="session", autouse=True)
def private_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Tests never touch the user's real key."""
    path = tmp_path_factory.mktemp("key") / "key"
    previous = os.environ.get("WHEREABOUTS_KEY_FILE")
    os.environ["WHEREABOUTS_KEY_FILE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("WHEREABOUTS_KEY_FILE", None)
    else:
        os.environ["WHEREABOUTS_KEY_FILE"] = previous


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server for every test that runs a flow."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


def police_source(name: str = "force", regimes=None) -> Source:
    """A standard-layout police source for hand-made cases."""
    from pipelines.sources.record import FIELDS

    return Source(
        name=name,
        kind="standard",
        file=Path(f"{name}.yaml"),
        fingerprint="test",
        columns={f: f for f in FIELDS},
        regimes=regimes,
    )


def la_source(name: str = "council") -> Source:
    return Source(name=name, kind="ssda903_missing", file=Path(f"{name}.yaml"), fingerprint="t")


def episode(**values) -> dict:
    """One episode version with sensible defaults; override any standard field."""
    row = {
        "source": "force",
        "file": "force/f.csv",
        "row_number": 0,
        "ingest_seq": 1,
        "episode_ref": "E1",
        "child_id": "child-a",
        "date_of_birth": date(2010, 6, 15),
        "reported_at": pd.Timestamp("2024-05-01 20:00"),
        "last_seen_at": None,
        "returned_at": pd.Timestamp("2024-05-02 08:00"),
        "recorded_category": None,
        "initial_risk_grade": None,
        "risk_grade": None,
        "sex": "F",
        "looked_after": "N",
        "missing_from": "home",
        "cse_flag": "N",
        "outcome": "returned",
        "rhi_offered_at": None,
        "rhi_completed_at": None,
        "extracted_at": pd.Timestamp("2024-06-01 01:00"),
    }
    for key, value in values.items():
        if key == "reported_at" or key.endswith("_at"):
            value = pd.Timestamp(value) if value is not None else None
        row[key] = value
    return row


def store_versions(
    work: Path, rows: list[dict], links: list[tuple[str, str, str]] = ()
) -> duckdb.DuckDBPyConnection:
    """A working store at `work` holding these episode versions, each child's key (as the
    ingest keeps one for every child with a loaded row; the child id stands in for the
    reference) and person ids (child, person, rule), left open for what a test adds."""
    con = open_work(work)
    frame = pd.DataFrame(rows).reindex(columns=EPISODE_COLUMNS)
    for column in EPISODE_COLUMNS:
        if column.endswith("_at"):
            frame[column] = pd.to_datetime(frame[column])
    insert_frame(con, "episode_versions", frame)
    keys = frame[["child_id", "source"]].dropna().drop_duplicates()
    con.executemany(
        "insert into person_keys values (?, ?, ?)",
        [(child, source, child) for child, source in keys.itertuples(index=False)],
    )
    if links:
        con.executemany("insert into person_ids values (?, ?, ?)", links)
    return con


def build_curated(
    tmp_path: Path, rows: list[dict], sources: list[Source] | None = None, as_of=date(2024, 12, 31)
) -> duckdb.DuckDBPyConnection:
    """Build the curated database from episode versions and open it read-only."""
    sources = sources or [police_source()]
    work = tmp_path / "work.duckdb"
    store_versions(work, rows).close()
    built = build(work, tmp_path / "curated.duckdb", {s.name: s for s in sources}, as_of)
    return duckdb.connect(str(built.path), read_only=True)


def small_curated(base: Path) -> Path:
    """A small curated database with every table non-empty where it can be: three police
    episodes and a council one, built on 2024-06-01; its path."""
    rows = [
        episode(episode_ref=f"E{i}", reported_at=f"2024-0{m}-1{i} 20:00", returned_at=None)
        for i, m in enumerate((3, 4, 5))
    ] + [
        episode(
            source="council",
            file="council/c_2024_25.csv",
            episode_ref="903-a",
            recorded_category="away",
            looked_after="Y",
        )
    ]
    con = build_curated(base, rows, [police_source(), la_source()], as_of=date(2024, 6, 1))
    con.close()
    return base / "curated.duckdb"


def rows_of(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def altered(database: Path, folder: Path, statement: str) -> Path:
    """A copy of a database (in `folder`) with one statement applied."""
    import shutil

    copy = folder / f"altered-{database.name}"
    shutil.copy(database, copy)
    con = duckdb.connect(str(copy))
    con.execute(statement)
    con.close()
    return copy


def tables_of(db: Path) -> list[tuple[str, str]]:
    """A database's tables, as (schema, table), sorted."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("select table_schema, table_name from information_schema.tables")
        return sorted(rows.fetchall())
    finally:
        con.close()


def curated_rows(path: Path) -> dict[str, list[tuple]]:
    """Every curated table's rows but the manifest (which says how it was built)."""
    from pipelines.warehouse.build import CURATED

    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            t: con.execute(f"select * from {t} order by all").fetchall()
            for t in CURATED
            if t != "build_manifest"
        }
    finally:
        con.close()


def synth_standard_codes() -> dict[str, tuple[str, ...]]:
    """The generator's code labels for each coded field of the standard record."""
    from pipelines.synth import layouts as sl

    return {
        "category": sl.CATEGORY,
        "initial_risk_grade": sl.GRADE,
        "risk_grade": sl.GRADE,
        "sex": sl.SEX,
        "looked_after": sl.YES_NO,
        "missing_from": sl.MISSING_FROM,
        "cse_flag": sl.YES_NO,
        "outcome": sl.OUTCOME,
    }


class Output:
    """What `output_of` caught: `text` once the block has ended."""

    text = ""


@contextmanager
def output_of(path: Path) -> Iterator[Output]:
    """Everything written to stdout and stderr inside, by Python or below it (file
    descriptors 1 and 2): the whole of what a run shows its user, for leak checks."""
    output = Output()
    python = io.StringIO()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with path.open("w+b") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            with redirect_stdout(python), redirect_stderr(python):
                yield output
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            output.text = python.getvalue() + sink.read().decode("utf-8", "replace")


# --- disclosure control: solving a printed table for its hidden cells -------------------


def feasible_ranges(
    values: np.ndarray, hidden: np.ndarray, lines: list[list[tuple[int, int]]]
) -> dict[tuple[int, int], tuple[float, float]]:
    """Each hidden cell's least and greatest value over every integer table that agrees with
    what is printed: every visible cell, and each line's cells adding up to its total.

    The reader is given more than the marks say: that a hidden count is not zero (zeros are
    shown) and whether it is small (1 to SUPPRESS_AT_MOST) or not (then more than that).
    Tighter bounds only narrow the ranges, so a table safe here is safe from a reader who
    knows less (say, only that small cells are 1 to 4 and the others at least 0).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    from pipelines.settings import SUPPRESS_AT_MOST

    cells = [tuple(c) for c in np.argwhere(hidden)]
    index = {c: k for k, c in enumerate(cells)}
    rows, rhs = [], []
    for line in lines:
        *inner, total = line
        coefficients = np.zeros(len(cells))
        constant = 0.0
        for cell, sign in [*((c, 1.0) for c in inner), (total, -1.0)]:
            if hidden[cell]:
                coefficients[index[cell]] += sign
            else:
                constant += sign * values[cell]
        if coefficients.any():
            rows.append(coefficients)
            rhs.append(-constant)
    small = [1 <= values[c] <= SUPPRESS_AT_MOST for c in cells]
    low = [1 if s else SUPPRESS_AT_MOST + 1 for s in small]
    # No cap on a count that is not small; a finite one keeps the solver's answers plain.
    high = [SUPPRESS_AT_MOST if s else 10**6 for s in small]
    constraints = [LinearConstraint(np.array(rows), rhs, rhs)] if rows else []
    ranges = {}
    for k, cell in enumerate(cells):
        ends = []
        for direction in (1.0, -1.0):
            objective = np.zeros(len(cells))
            objective[k] = direction
            result = milp(
                objective,
                constraints=constraints,
                integrality=np.ones(len(cells)),
                bounds=Bounds(low, high),
            )
            assert result.status == 0, result.message  # the true table is always feasible
            ends.append(direction * result.fun)
        ranges[cell] = (ends[0], ends[1])
    return ranges


def assert_unrecoverable(true: pd.DataFrame, shown: pd.DataFrame, rows: bool, cols: bool) -> None:
    """Every hidden cell of a printed table (its totals as `rows` and `cols` say) can take
    more than one value given everything printed; every printed cell is the true value."""
    from pipelines.briefing.suppression import add_totals

    values = add_totals(true.astype("float64"), row_totals=rows, column_totals=cols).to_numpy()
    hidden = shown.to_numpy() == "c"
    n_rows, n_cols = values.shape
    lines = [[(i, j) for j in range(n_cols)] for i in range(n_rows)] if rows else []
    lines += [[(i, j) for i in range(n_rows)] for j in range(n_cols)] if cols else []
    for cell, (low, high) in feasible_ranges(values, hidden, lines).items():
        assert low <= values[cell] <= high
        assert low < high, f"{cell} = {values[cell]:g} is the only value the totals allow"
    for (i, j), text in np.ndenumerate(shown.to_numpy()):
        assert text == "c" or int(text.replace(",", "")) == values[i, j]
        assert text != "c" or values[i, j] != 0, "zeros are never hidden"
