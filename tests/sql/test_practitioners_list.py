"""`whereabouts at-risk` on tiny hand-made cases: the practitioners' list with names and
references from the identity store, its audit, an earlier run date by the same models, and
the one-line refusals. All names are made up."""

from __future__ import annotations

import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import FAST_DIR, episode, la_source, police_source, store_versions

from pipelines import settings
from pipelines.cli.main import main
from pipelines.identity.store import open_identity_store
from pipelines.quality.contracts import load_contract
from pipelines.warehouse.as_of import table_as_of
from pipelines.warehouse.build import build

SOURCES = {s.name: s for s in (police_source("northshire"), la_source("council"))}
AS_OF = date(2024, 12, 31)
EARLIER = date(2024, 11, 15)


def police(ref: str, child: str, at: str, **more) -> dict:
    values = {"source": "northshire", "file": "northshire/f.csv", "episode_ref": ref,
              "child_id": child, "reported_at": at, "risk_grade": "low"}  # fmt: skip
    return episode(**(values | more))


def council(ref: str, child: str, at: str, **more) -> dict:
    values = {"source": "council", "file": "council/f.csv", "episode_ref": ref,
              "child_id": child, "reported_at": at, "recorded_category": "missing",
              "looked_after": "Y"}  # fmt: skip
    return episode(**(values | more))


EPISODES = [
    # ada: one person across agencies, open and high risk at the end of 2024.
    police("A1", "ada-n", "2024-12-20 10:00", risk_grade="high", returned_at=None),
    council("A2", "ada-c", "2024-11-01 10:00", returned_at="2024-11-20 10:00"),
    # cyd: not linked, 3 episodes in 90 days (the third on 2024-11-10).
    police("C1", "cyd-n", "2024-09-01 10:00"),
    police("C2", "cyd-n", "2024-10-01 10:00"),
    police("C3", "cyd-n", "2024-11-10 10:00"),
    # ghost: CSE flagged, no identity record.
    police("G1", "ghost-n", "2024-12-01 10:00", cse_flag="Y"),
    # old: 18 on 2024-12-01, so on the list in November but not at the end of the year.
    police("O1", "old-n", "2024-11-14 10:00", cse_flag="Y", date_of_birth=date(2006, 12, 1)),
]
LINKS = [("ada-n", "ada", "model"), ("ada-c", "ada", "model")]
# (record_id, source, agency, person_ref, forename, surname, date of birth)
IDENTITIES = [
    ("ada-n", "northshire", "northshire", "N-1", "ADA", "BROOK", date(2012, 3, 4)),
    ("ada-c", "council", "council", "C-9", "ADA", "BROOK-LEE", date(2012, 3, 4)),
    ("cyd-n", "northshire", "northshire", "N-7", "CYD", "=DEE", None),
    ("old-n", "northshire", "northshire", "N-3", "OLA", "OLDER", date(2006, 12, 1)),
]
HEADER = [
    "as_of", "priority", "person_id", "child_id", "forename", "surname", "date_of_birth",
    "references", "priority_tier", "reasons", "sources", "episodes_last_90_days",
    "last_reported_at", "has_open_episode", "has_open_high_risk",
]  # fmt: skip
# The list at the end of 2024 as its CSV holds it (a formula-like name quoted, as export does).
CSV_ROWS = [
    ["2024-12-31", "1", "ada", "ada-n", "ADA", "BROOK-LEE; BROOK", "2012-03-04",
     "council: C-9; northshire: N-1", "1",
     "open police missing episode (northshire), high risk; high risk in last 90 days "
     "(northshire); missing from care (council) with no police report in last 90 days "
     "(council)", "council, northshire", "2", "2024-12-20 10:00:00", "True", "True"],
    ["2024-12-31", "2", "", "ghost-n", "", "", "", "", "3",
     "CSE flag in last 90 days (northshire)", "northshire", "1", "2024-12-01 10:00:00",
     "False", "False"],
    ["2024-12-31", "3", "", "cyd-n", "CYD", "'=DEE", "", "northshire: N-7", "5",
     "3 episodes within 90 days (northshire)", "northshire", "1", "2024-11-10 10:00:00",
     "False", "False"],
]  # fmt: skip


@pytest.fixture(scope="module")
def stores() -> Iterator[dict[str, Path]]:
    """A published database (run date 2024-12-31), its working store and identity store."""
    with tempfile.TemporaryDirectory(dir=FAST_DIR) as folder:
        base = Path(folder)
        db = base / "curated" / "whereabouts.duckdb"
        work = base / "work" / "whereabouts-work.duckdb"
        store_versions(work, EPISODES, LINKS).close()
        build(work, db, SOURCES, AS_OF)
        identity = base / "work" / "whereabouts-identity.duckdb"
        con = open_identity_store(identity)
        now = datetime(2025, 1, 1)
        con.executemany(
            "insert into identity_records (record_id, source, agency, person_ref, forename, "
            "surname, date_of_birth, first_seen_at, updated_at, updated_run) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, 'r')",
            [(*r, now, now) for r in IDENTITIES],
        )
        con.executemany(
            "insert into person_links (record_id, person_id, linked_by, linked_at, run_id) "
            "values (?, ?, 'model', ?, 'r')",
            [(r, p, now) for r, p, _ in LINKS],
        )
        con.close()
        decl = base / "sources"
        decl.mkdir()
        (decl / "northshire.yaml").write_text("name: northshire\nlayout: standard\n")
        (decl / "council.yaml").write_text("name: council\nlayout: ssda903_missing\n")
        yield {"base": base, "db": db, "work": work, "identity": identity, "sources": decl}


def at_risk(stores: dict[str, Path], out: Path, *more: str) -> int:
    return main(["at-risk", "--out", str(out), "--db", str(stores["db"]), "--by", "pat",
                 "--purpose", "strategy meeting", *more])  # fmt: skip


def audit_rows(identity: Path) -> list[tuple]:
    con = duckdb.connect(str(identity), read_only=True)
    try:
        return con.execute(
            "select * exclude (exported_at) from export_audit order by rowid"  # as appended
        ).fetchall()
    finally:
        con.close()


def test_the_csv_lists_the_children_in_order_with_names_and_references(stores, tmp_path):
    out = tmp_path / "list.csv"
    assert at_risk(stores, out) == 0
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(frame.columns) == HEADER
    assert frame.values.tolist() == CSV_ROWS
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["list.csv"]  # nothing left aside
    assert audit_rows(stores["identity"])[-1] == (
        "pat",
        "strategy meeting",
        AS_OF,
        str(out.resolve()),
        "csv",
        3,
        3,
    )


def test_the_xlsx_holds_the_same_rows(stores, tmp_path):
    out = tmp_path / "list.xlsx"
    assert at_risk(stores, out) == 0
    frame = pd.read_excel(out, engine="calamine", dtype=str, keep_default_na=False)
    assert list(frame.columns) == HEADER
    # The spreadsheet's own types, as text: no quote is needed where no cell is a formula.
    expected = [row.copy() for row in CSV_ROWS]
    expected[2][5] = "=DEE"  # a text cell, never run
    assert frame.values.tolist() == expected
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert audit_rows(stores["identity"])[-1][3:] == (str(out.resolve()), "xlsx", 3, 3)


def test_an_earlier_date_is_the_list_the_models_give_on_it(stores, tmp_path):
    out = tmp_path / "november.csv"
    assert at_risk(stores, out, "--as-of", EARLIER.isoformat(),
                   "--sources", str(stores["sources"])) == 0  # fmt: skip
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert frame[
        ["as_of", "priority", "child_id", "forename", "priority_tier"]
    ].values.tolist() == [
        ["2024-11-15", "1", "ada-c", "ADA", "2"],  # returned on 2024-11-20: open then
        ["2024-11-15", "2", "old-n", "OLA", "3"],  # 17 then
        ["2024-11-15", "3", "cyd-n", "CYD", "5"],
    ]
    assert audit_rows(stores["identity"])[-1][2:] == (EARLIER, str(out.resolve()), "csv", 3, 4)


def test_an_earlier_date_equals_a_build_on_that_date(stores, tmp_path):
    # Not a second copy of the rules: the same models give what a nightly on that date would.
    rebuilt = build(stores["work"], tmp_path / "curated.duckdb", SOURCES, EARLIER).path
    con = duckdb.connect(str(rebuilt), read_only=True)
    expected = con.sql("select * from at_risk_children order by priority").fetchall()
    con.close()
    recomputed = table_as_of(stores["db"], stores["work"], SOURCES, "at_risk_children", EARLIER)
    assert len(expected) == 3
    assert sorted(recomputed.to_pylist(), key=lambda r: r["priority"]) == [
        dict(zip(recomputed.column_names, row, strict=True)) for row in expected
    ]


def test_the_adult_cut_off_is_one_intermediate_model_on_its_contract(stores):
    from pipelines.warehouse.build import model_sql, model_variables

    con = duckdb.connect()
    con.execute(f"attach '{stores['work']}' as work (read_only)")
    for name, value in model_variables(AS_OF).items():
        con.execute(f"set variable {name} = {value}")
    con.execute(f"create view stg_version_birth_dates as {model_sql('stg_version_birth_dates')}")
    latest = con.sql(model_sql("int_latest_birth_dates"))
    contract = load_contract("int_latest_birth_dates")
    assert contract.layer == "intermediate"
    assert dict(zip(latest.columns, map(str, latest.types), strict=True)) == {
        c.name: c.type for c in contract.columns
    }
    # The window reaches back 90 days from the run date, by date: 2024-10-02 on.
    assert latest.order("episode_id").fetchall() == [
        ("council:A2", date(2010, 6, 15), False),
        ("northshire:A1", date(2010, 6, 15), False),
        ("northshire:C3", date(2010, 6, 15), False),
        ("northshire:G1", date(2010, 6, 15), False),
        ("northshire:O1", date(2006, 12, 1), True),
    ]
    con.close()


REFUSALS = [
    ("list.pdf", [], "{out}: the list is written as .xlsx or .csv, not '.pdf'"),
    ("curated/list.csv", [],
     "{out}: inside {base}/curated, where published files go; the list is restricted, write "
     "it somewhere only those entitled to act can read"),
    ("list.csv", ["--identity-db", "{base}/nowhere.duckdb"],
     "{base}/nowhere.duckdb: no identity store (run 'whereabouts nightly')"),
    ("list.csv", ["--as-of", "2025-01-01"],
     "--as-of 2025-01-01 is after the published data's run date 2024-12-31: run the nightly "
     "first"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "more", "message"), REFUSALS)
def test_refusals_are_one_line(stores, capsys, name, more, message):
    base = stores["base"]
    out = base / name
    before = audit_rows(stores["identity"])
    code = at_risk(stores, out, *[m.format(base=base) for m in more])
    assert code == 1
    assert capsys.readouterr().err == (
        f"whereabouts at-risk: {message.format(out=out, base=base.resolve())}\n"
    )
    assert not out.exists()
    assert audit_rows(stores["identity"]) == before


def test_a_missing_published_database_is_one_line(tmp_path, capsys):
    db = tmp_path / "curated" / "whereabouts.duckdb"
    code = main(["at-risk", "--out", str(tmp_path / "l.csv"), "--db", str(db)])
    assert code == 1
    assert capsys.readouterr().err == (
        f"whereabouts at-risk: {db}: no published database (run 'whereabouts nightly')\n"
    )


def test_the_reports_folders_are_refused(stores, capsys):
    out = settings.BRIEFINGS_DIR / "list.xlsx"
    assert at_risk(stores, out) == 1
    assert capsys.readouterr().err == (
        f"whereabouts at-risk: {out}: inside {settings.BRIEFINGS_DIR.resolve()}, where published "
        "files go; the list is restricted, write it somewhere only those entitled to act can "
        "read\n"
    )
    assert not out.exists()


def test_a_store_held_by_a_nightly_is_one_line(stores, capsys, tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
         "print('held', flush=True); sys.stdin.read()", str(stores["work"])],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        code = at_risk(stores, tmp_path / "l.csv", "--as-of", EARLIER.isoformat(),
                       "--sources", str(stores["sources"]))  # fmt: skip
    finally:
        holder.communicate("")
    assert code == 1
    assert capsys.readouterr().err == (
        f"whereabouts at-risk: {stores['work']}: in use by another process (a nightly run?); "
        "try again when it ends\n"
    )


def test_a_bad_suffix_is_refused_before_anything_heavy_loads(tmp_path):
    script = (
        "import sys\nfrom pipelines.cli.main import main\n"
        f"code = main(['at-risk', '--out', {str(tmp_path / 'list.pdf')!r}])\n"
        "print(code, [m for m in ('pandas', 'duckdb', 'pyarrow') if m in sys.modules])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True,
        cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert done.stdout == "1 []\n"
    assert done.stderr.endswith("not '.pdf'\n")
