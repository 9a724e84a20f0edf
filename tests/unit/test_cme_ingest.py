"""A children-missing-education (cme) file: its identities go to the identity store, its
spells off roll to the working store's cme_rows, in the file's own transaction; the ledger
accounts for every row. Every name and reference here is made up.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines import settings
from pipelines.ingest.ledger import to_ingest
from pipelines.ingest.pipeline import ingest_files
from pipelines.ingest.pseudonym import child_id
from pipelines.ingest.working_store import open_work
from pipelines.sources.declarations import load_sources
from pipelines.sources.discovery import discover

KEY = b"0123456789abcdef" * 4
HEADER = "person_ref,forename,surname,date_of_birth,upn,postcode,off_roll_on,reason,resolved_on"
FILE = "cme/register.csv"
LINES = [
    HEADER,
    "C1,Zebediah,Quillfeather,2012-02-01,,AB12CD,2024-03-01,MOV,",
    "C2,Amos,Quillfeather,2013-04-03,,,01/03/2024,UNK,2024-04-01",
    "C3,Ida,Fenwright,2013-05-03,,,31/02/2024,MOV,",  # no 31 February
    ",Noref,Fenwright,2013-05-03,,,2024-03-01,MOV,",
    "C4,Ole,Fenwright,2013-05-03,,,,MOV,",
    "C1,Zebediah,Quillfeather,2012-02-01,,AB12CD,2024-06-01,EXC,2024-06-20",
    "C5,Una,Fenwright,2013-05-03,,,2024-03-01,MOV,1st May",
]


@pytest.fixture
def ingested(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(settings, "MAX_QUARANTINE_SHARE", 1.0)
    (tmp_path / "decl").mkdir()
    (tmp_path / "decl" / "cme.yaml").write_text("name: cme\nagency: shire\nlayout: cme\n")
    (tmp_path / "raw" / "cme").mkdir(parents=True)
    (tmp_path / "raw" / FILE).write_text("\n".join(LINES) + "\n", encoding="utf-8")
    con = open_work(tmp_path / "work.duckdb")
    identities: list[pa.Table] = []
    files, _ = discover(tmp_path / "raw", load_sources(tmp_path / "decl"))
    results, _ = ingest_files(con, to_ingest(con, files), KEY, "r1", identities=identities)
    yield con, results[0], identities
    con.close()


def test_the_ledger_accounts_for_every_row(ingested) -> None:
    con, result, _ = ingested
    assert con.execute(
        "select status, rows_read, rows_loaded, rows_quarantined, rows_out_of_scope "
        "from ingest_files"
    ).fetchall() == [("loaded", 7, 3, 4, 0)]
    assert result.rows_read == result.rows_loaded + result.rows_quarantined


def test_each_loaded_row_keeps_its_spell_under_the_child_id(ingested) -> None:
    con, _, _ = ingested
    assert con.execute(
        "select source, file, row_number, child_id, off_roll_on, reason, resolved_on "
        "from cme_rows order by row_number"
    ).fetchall() == [
        ("cme", FILE, 0, child_id(KEY, "cme", "C1"), date(2024, 3, 1), "MOV", None),
        ("cme", FILE, 1, child_id(KEY, "cme", "C2"), date(2024, 3, 1), "UNK", date(2024, 4, 1)),
        ("cme", FILE, 5, child_id(KEY, "cme", "C1"), date(2024, 6, 1), "EXC", date(2024, 6, 20)),
    ]
    (seq,) = con.execute("select ingest_seq from ingest_files").fetchone()
    assert con.execute("select distinct ingest_seq from cme_rows").fetchall() == [(seq,)]


def test_a_spell_without_a_valid_date_is_quarantined_without_its_values(ingested) -> None:
    con, _, _ = ingested
    assert con.execute(
        "select source, file, row_number, reasons, raw_values from quarantine order by 3"
    ).fetchall() == [
        (
            "cme",
            FILE,
            2,
            "date_parses: off_roll_on is not a date (use YYYY-MM-DD or dd/mm/yyyy)",
            None,
        ),
        ("cme", FILE, 3, "required: person_ref is blank", None),
        ("cme", FILE, 4, "required: off_roll_on is blank", None),
        (
            "cme",
            FILE,
            6,
            "date_parses: resolved_on is not a date (use YYYY-MM-DD or dd/mm/yyyy)",
            None,
        ),
    ]


def test_identities_leave_and_spells_stay(ingested) -> None:
    con, _, identities = ingested
    captured = [r for t in identities for r in t.to_pylist()]
    assert sorted(r["person_ref"] for r in captured) == ["C1", "C2"]
    assert not {"off_roll_on", "reason", "resolved_on"} & set(identities[0].column_names)
    store = " ".join(str(v) for row in con.execute("from cme_rows").fetchall() for v in row)
    assert "Zebediah" not in store and "AB12CD" not in store


def test_a_changed_register_replaces_its_spells(ingested, tmp_path: Path) -> None:
    con, _, _ = ingested
    (tmp_path / "raw" / FILE).write_text("\n".join(LINES[:2]) + "\n", encoding="utf-8")
    files, _ = discover(tmp_path / "raw", load_sources(tmp_path / "decl"))
    ingest_files(con, to_ingest(con, files), KEY, "r2")
    assert con.execute("select row_number, reason from cme_rows").fetchall() == [(0, "MOV")]
    assert con.execute("select rows_read, rows_loaded from ingest_files").fetchall() == [(1, 1)]


def test_a_held_register_keeps_no_spells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "MAX_QUARANTINE_SHARE", 0.2)
    (tmp_path / "decl").mkdir()
    (tmp_path / "decl" / "cme.yaml").write_text("name: cme\nlayout: cme\n")
    (tmp_path / "raw" / "cme").mkdir(parents=True)
    (tmp_path / "raw" / FILE).write_text("\n".join(LINES) + "\n", encoding="utf-8")
    con = open_work(tmp_path / "work.duckdb")
    files, _ = discover(tmp_path / "raw", load_sources(tmp_path / "decl"))
    ingest_files(con, to_ingest(con, files), KEY, "r1")
    assert con.execute(
        "select status, rows_read, rows_loaded, rows_quarantined from ingest_files"
    ).fetchall() == [("held", 7, 0, 7)]
    assert con.execute("select count(*) from cme_rows").fetchall() == [(0,)]
    con.close()
