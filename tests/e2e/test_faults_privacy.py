"""Fault test: planted personal values go through a real nightly run and are searched for in
every published place (the curated database, the validation report, the exports, the run's
output and logs). None may appear there; each must still be in the private working store's
quarantine.raw_values, where it belongs, or (a secret behind a link) nowhere at all.

The files give every path a value could leak by: rows quarantined for a mistyped code, a
date that is not a date and a repeated reference; DfE SSDA903 findings on an invalid date
and code; a CSV whose malformed row the parser would quote; unmapped name and address
columns; a link to a secret file outside the raw folder. The run must still publish.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import output_of

from pipelines.cli.commands import EXIT_ATTENTION
from pipelines.cli.main import main
from pipelines.ingest import writer
from pipelines.ingest.prepared import FileResult, Prepared

AS_OF = date(2025, 6, 1)
OUTSIDE = "a symbolic link to a file outside the raw folder"
SURNAME, POSTCODE, ADDRESS = "Zzyzxquorth", "QX9 9ZZ", "17 Plantagenet Quorthway"
PERSON, BORN, EPISODE = "PLANT-PERSON-991", "1999-12-31", "PLANT-EPISODE-777"
CHILD, START, SECRET = "PLANT-CHILD-551", "29/02/2023", "TOPSECRET-LINE"
# Each planted value, and whether the working store's quarantine keeps it (a value in an
# unmapped column, or only in a file that is not read, is kept nowhere).
PLANTED = {
    SURNAME: True,
    POSTCODE: True,
    ADDRESS: False,
    PERSON: True,
    BORN: True,
    EPISODE: True,
    CHILD: True,
    START: True,
    SECRET: False,
}
HEADER = (
    "episode_ref,person_ref,date_of_birth,reported_at,last_seen_at,returned_at,sex,"
    "missing_from,surname,address,postcode"
)


def good_rows(prefix: str, count: int) -> list[str]:
    """Rows that load, with names and addresses in columns no declaration maps."""
    return [
        f"{prefix}{i},{prefix}P{i % 50},2012-03-{1 + i % 28:02d},2024-06-{1 + i % 28:02d} 10:00,,"
        f"2024-06-{1 + i % 28:02d} 18:00,{'FM'[i % 2]},home,{SURNAME},{ADDRESS},{POSTCODE}"
        for i in range(count)
    ]


def police_file() -> str:
    rows = good_rows("G", 120)
    # A warning only: last seen after the report, so the row loads and a finding is kept.
    rows.append("W1,WP1,2012-01-01,2024-06-01 10:00,2024-06-01 11:00,,F,home,Ann,1 Road,AB1")
    # Quarantined: a surname typed into the sex code, a postcode into missing_from.
    rows.append(f"Q1,{PERSON},{BORN},2010-05-01 10:00,,,{SURNAME},{POSTCODE},x,y,z")
    # Quarantined: a date of birth that is no date.
    rows.append(f"Q2,{PERSON},{BORN}T25:00,2010-05-01 10:00,,,F,home,x,y,z")
    # Quarantined: one reference on two rows.
    rows += [f"{EPISODE},P7,2012-01-01,2024-06-0{d} 10:00,,,F,home,x,y,z" for d in (2, 3)]
    return "\n".join([HEADER, *rows]) + "\n"


def malformed_file() -> str:
    """A file whose fourth row has more fields than its header: that row is quarantined by
    its field counts (the parser's own message would quote it), the other 32 load."""
    bad = f"M9,{PERSON},{BORN},2010-05-01 10:00,,,F,home,{SURNAME},{ADDRESS},{POSTCODE},extra"
    return "\n".join([HEADER, *good_rows("M", 2), bad, *good_rows("N", 30)]) + "\n"


def ssda903_file() -> str:
    days = [f"{1 + i % 28:02d}/0{5 + i % 4}/2024" for i in range(80)]
    rows = [f"C{i:04d},01/01/2012,M,{day},{day}" for i, day in enumerate(days)]
    rows.append(f"{CHILD},31/12/2012,M,{START},")  # 1004: not a date
    rows.append(f"C9001,31/12/2012,{SURNAME},01/06/2024,02/06/2024")  # 1006: not M or A
    return "\n".join(["CHILD,DOB,MISSING,MIS_START,MIS_END", *rows]) + "\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def wal_path(database: Path) -> Path:
    return database.with_name(database.name + ".wal")


@pytest.fixture(scope="module")
def run(prefect_harness, tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("faults")
    raw, decl = base / "raw", base / "sources"
    for folder in (raw / "harbour", raw / "council", decl, base / "elsewhere"):
        folder.mkdir(parents=True)
    (decl / "harbour.yaml").write_text("name: harbour\nlayout: standard\n")
    (decl / "council.yaml").write_text("name: council\nlayout: ssda903_missing\n")
    (raw / "harbour" / "a_episodes.csv").write_text(police_file())
    (raw / "harbour" / "b_malformed.csv").write_text(malformed_file())
    (raw / "council" / "missing_2024_25.csv").write_text(ssda903_file())
    secret = base / "elsewhere" / "secret.csv"
    secret.write_text(f"{HEADER}\n{SECRET},S1,2012-01-01,2024-06-01 10:00,,,F,home,a,b,c\n")
    (raw / "harbour" / "c_link.csv").symlink_to(secret)

    paths = {
        "db": base / "curated" / "whereabouts.duckdb",
        "work": base / "work" / "work.duckdb",
        "reports": base / "reports",
    }
    # The store's write-ahead log, as it is just after each file's transaction commits.
    wal_modes: list[int] = []
    finish = writer.FileStore.finish

    def noting_finish(self: writer.FileStore, prepared: Prepared) -> FileResult:
        result = finish(self, prepared)
        if wal_path(paths["work"]).exists():
            wal_modes.append(mode(wal_path(paths["work"])))
        return result

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(writer.FileStore, "finish", noting_finish)
    previous = os.umask(0o022)  # the modes below must not be the umask's doing
    records: list[logging.LogRecord] = []
    handler = Noting(records)
    loggers = [logging.getLogger(name) for name in ("", "prefect", "great_expectations")]
    for logger in loggers:
        logger.addHandler(handler)
    nightly = [
        "nightly", "--raw", str(raw), "--sources", str(decl), "--db", str(paths["db"]),
        "--work-db", str(paths["work"]), "--as-of", AS_OF.isoformat(),
        "--reports", str(paths["reports"]),
    ]  # fmt: skip
    try:
        with output_of(base / "output.txt") as output:
            codes = [main(nightly)] + [
                main(
                    ["export", "--format", fmt, "--out", str(base / fmt), "--db", str(paths["db"])]
                )
                for fmt in ("csv", "parquet")
            ]
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        os.umask(previous)
        monkeypatch.undo()
    (report,) = (p for p in paths["reports"].glob("*.html") if p.name != "index.html")
    exported = sorted((base / "csv").glob("*.csv")) + sorted((base / "parquet").glob("*.parquet"))
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in records)
    yield {
        **paths,
        "codes": codes,
        "report": report,
        "exported": exported,
        "output": output.text,
        "logged": logged,
        "wal_modes": wal_modes,
    }


class Noting(logging.Handler):
    """Keeps every log record, at every level."""

    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _published_text(db: Path) -> dict[str, str]:
    """Every value of every column of every table (as text), and the tables' comments."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        found = {}
        for (table,) in con.execute("select table_name from duckdb_tables()").fetchall():
            columns = [c[0] for c in con.execute(f"describe {table}").fetchall()]
            joined = " || ' | ' || ".join(f"coalesce(\"{c}\"::varchar, '')" for c in columns)
            values = con.execute(f"select {joined} from {table}").fetchall()
            found[f"table {table}"] = "\n".join(v[0] for v in values)
        comments = con.execute("select comment from duckdb_columns()").fetchall()
        found["comments"] = "\n".join(str(c[0]) for c in comments)
        return found
    finally:
        con.close()


def _places(run: dict) -> dict[str, str]:
    places = _published_text(run["db"])
    places["validation report"] = run["report"].read_text(encoding="utf-8")
    for name in ("index.html", "index.json"):  # the index of runs, beside the reports
        places[f"validation {name}"] = (run["reports"] / name).read_text(encoding="utf-8")
    for path in run["exported"]:
        if path.suffix == ".csv":
            places[f"export {path.name}"] = path.read_text(encoding="utf-8")
        else:
            table = pq.read_table(path)
            places[f"export {path.name}"] = "\n".join(
                str(v) for column in table.columns for v in column.to_pylist()
            )
    places["stdout and stderr"] = run["output"]
    places["logs"] = run["logged"]
    return places


def test_the_run_publishes_with_every_fault_in_place(run: dict) -> None:
    # Published, with the attention status (3): the link out of the raw folder is rejected.
    assert run["codes"] == [EXIT_ATTENTION, 0, 0], run["output"][-2000:]
    assert f"rejected file harbour/c_link.csv: {OUTSIDE}" in run["output"]
    assert "run " in run["output"] and ": published" in run["output"]
    con = duckdb.connect(str(run["db"]), read_only=True)
    try:
        ledger = dict(con.execute("select file, status from ingest_files").fetchall())
        messages = dict(con.execute("select file, message from ingest_files").fetchall())
        quarantined = con.execute("select count(*) from quarantine").fetchone()
        rules = {r for (r,) in con.execute("select distinct rule from findings").fetchall()}
    finally:
        con.close()
    assert ledger == {
        "harbour/a_episodes.csv": "loaded",
        "harbour/b_malformed.csv": "loaded",
        "harbour/c_link.csv": "rejected",
        "council/missing_2024_25.csv": "loaded",
    }
    assert messages["harbour/c_link.csv"] == OUTSIDE
    assert messages["harbour/b_malformed.csv"] in ("", None)
    assert quarantined == (7,)
    assert {"1004", "1006", "last_seen_before_reported"} <= rules


def test_no_planted_value_is_published_reported_exported_or_logged(run: dict) -> None:
    places = _places(run)
    assert len([p for p in places if p.startswith("export ")]) >= 20
    leaks = {
        (value, place)
        for value in PLANTED
        for place, text in places.items()
        if value.lower() in text.lower()
    }
    assert leaks == set()


def test_the_working_store_keeps_the_raw_values_privately(run: dict) -> None:
    con = duckdb.connect(str(run["work"]), read_only=True)
    try:
        rows = con.execute("select raw_values from quarantine").fetchall()
        # Each row as its JSON record (which escapes "/" as "\\/"): its values, as read.
        raw = "\n".join(str(v) for (row,) in rows for v in json.loads(row).values())
        everything = "\n".join(
            str(row)
            for (table,) in con.execute("select table_name from duckdb_tables()").fetchall()
            for row in con.execute(f"select * from {table}").fetchall()
        )
    finally:
        con.close()
    assert {value for value, kept in PLANTED.items() if value in raw} == {
        value for value, kept in PLANTED.items() if kept
    }
    # Nothing behind the link was read, and unmapped columns never travel.
    assert SECRET not in everything and ADDRESS not in everything


def test_files_have_their_documented_modes(run: dict) -> None:
    work, db, reports = run["work"], run["db"], run["reports"]
    report = run["report"]
    # (Its folder is the run lock's to make: a store may share a folder, which is left as is.)
    assert mode(work) == 0o600
    assert run["wal_modes"] and set(run["wal_modes"]) == {0o600}
    assert (mode(db), mode(db.parent)) == (0o640, 0o750)
    assert (mode(report), mode(reports)) == (0o640, 0o750)
    assert {mode(reports / name) for name in ("index.html", "index.json")} == {0o640}
    assert {mode(path) for path in run["exported"]} == {0o640}
    assert {mode(path.parent) for path in run["exported"]} == {0o750}
