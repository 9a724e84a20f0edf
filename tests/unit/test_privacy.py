"""Nothing personal leaves the working store: messages name the file, row, column and rule;
links out of the raw folder are not followed; private files are made private.

The end-to-end search of every published place is tests/e2e/test_faults_privacy.py.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from conftest import police_source

from pipelines.db import PRIVATE_UMASK, private_files, shared_folder
from pipelines.errors import ConfigurationError
from pipelines.ingest import pipeline as ingest_module
from pipelines.ingest.ledger import to_ingest
from pipelines.ingest.parse import typed_episodes
from pipelines.ingest.pipeline import ingest_files
from pipelines.ingest.readers import read_csv_rows
from pipelines.ingest.unreadable import library_problem
from pipelines.ingest.working_store import open_work, wal_path
from pipelines.orchestration.report import write_report
from pipelines.quality.contracts import load_contract
from pipelines.quality.suites import run_suite
from pipelines.sources.declarations import load_source
from pipelines.sources.discovery import OUTSIDE, RawFile, discover
from pipelines.sources.record import FIELDS

KEY = b"0123456789abcdef" * 4
HEADER = "episode_ref,person_ref,date_of_birth,reported_at,surname"
GOOD = "E1,P1,2010-01-01,2024-05-01 10:00,Smith"
# Distinctive values planted in rows that must never be quoted.
PLANTED = ("Zzyzxquorth", "PLANT-PERSON-991", "1999-12-31", "QX9 9ZZ")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def current_umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _source(base: Path, name: str = "bay"):
    base.mkdir(parents=True, exist_ok=True)
    path = base / f"{name}.yaml"
    path.write_text(f"name: {name}\nlayout: standard\n", encoding="utf-8")
    return load_source(path)


# --- messages quote no value -------------------------------------------------------------


def test_a_malformed_csv_row_is_named_by_its_counts_not_quoted(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    bad = "E2,PLANT-PERSON-991,1999-12-31,2024-05-01 10:00,Zzyzxquorth,QX9 9ZZ"
    path.write_text(f"{HEADER}\n{GOOD}\n{bad}\n{GOOD}\n", encoding="utf-8")
    read = read_csv_rows(path)
    assert read.malformed == {1: "field_count: the row has 6 fields where the header has 5"}
    assert read.table.column("person_ref").to_pylist() == ["P1", None, "P1"]


def test_a_quoted_value_over_lines_counts_as_one_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    multi = 'E1,P1,2010-01-01,2024-05-01 10:00,"Smith\nJones"'
    bad = "E3,PLANT-PERSON-991,1999-12-31,2024-05-01 10:00,Zzyzxquorth,QX9 9ZZ"
    path.write_text(f"{HEADER}\n{multi}\n{GOOD}\n{bad}\n", encoding="utf-8")
    assert read_csv_rows(path).malformed == {
        2: "field_count: the row has 6 fields where the header has 5"
    }


def test_library_messages_are_kept_only_when_known_to_quote_nothing() -> None:
    assert library_problem("XLSX workbook", ValueError("Cannot detect file format")) == (
        "not a readable XLSX workbook: Cannot detect file format"
    )
    source = "Could not open Parquet input source 'a/b.parquet': Parquet file size is 0 bytes"
    assert library_problem("Parquet file", pa.ArrowInvalid(source)) == (
        "not a readable Parquet file: Parquet file size is 0 bytes"
    )
    quoting = ValueError("bad cell 'Zzyzxquorth' at B7")
    assert library_problem("XLSX workbook", quoting) == (
        "not a readable XLSX workbook (ValueError; the reader's message is not kept, "
        "as it can quote the file's contents)"
    )


def test_incoming_checks_name_column_and_rule_and_report_no_examples() -> None:
    raw = pd.DataFrame(
        {
            "episode_ref": ["PLANT-PERSON-991", "PLANT-PERSON-991"],
            "person_ref": ["P1", "P2"],
            "date_of_birth": ["1999-12-31 Zzyzxquorth", "2010-01-01"],
            "reported_at": ["2024-05-01 10:00", "2024-05-01 10:00"],
            "sex": ["QX9 9ZZ", "F"],
        }
    ).reindex(columns=list(FIELDS))
    checked = typed_episodes(raw, police_source("bay"))
    checked.insert(0, "file", "bay/a.csv")
    checked["episode_ref__repeated"] = checked["episode_ref"]
    suite = run_suite(checked, load_contract("incoming_episodes"))
    assert suite.failures is not None
    messages = set(suite.failures["message"])
    assert messages >= {
        "date_of_birth is not a date (use YYYY-MM-DD or dd/mm/yyyy, with or without HH:MM)",
        "sex is not one of the declared codes",
        "episode_ref appears on more than one row of this file",
    }
    shown = " ".join(messages) + " ".join(e for o in suite.outcomes for e in o.examples)
    assert not [value for value in PLANTED if value in shown]
    assert all(o.examples == () for o in suite.outcomes)


def test_a_contract_may_not_quote_a_value(tmp_path: Path) -> None:
    (tmp_path / "t.yml").write_text(
        "table: t\nlayer: batch\ngrain: g\ndescription: d\n"
        "columns:\n  - {name: a, type: VARCHAR, description: a}\n"
        "checks:\n  - {rule: r, severity: error, expect: blank, columns: [a], "
        "message: \"{field} '{value}' is wrong\"}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match="never quote"):
        load_contract("t", tmp_path)


# --- links out of the raw folder ---------------------------------------------------------


@pytest.fixture
def linked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A raw folder with a link out of it, a link within it, and a source folder that is
    itself a link out; every path the ingest opens is noted."""
    raw, secret = tmp_path / "raw", tmp_path / "elsewhere"
    sources = {name: _source(tmp_path / "sources", name) for name in ("bay", "cove")}
    (raw / "bay").mkdir(parents=True)
    secret.mkdir()
    (secret / "secret.csv").write_text(f"{HEADER}\nTOPSECRET-LINE,P9,2010-01-01,2024-05-01,X\n")
    (raw / "bay" / "a.csv").write_text(f"{HEADER}\n{GOOD}\n")
    (raw / "bay" / "out.csv").symlink_to(secret / "secret.csv")
    (raw / "bay" / "within.csv").symlink_to(raw / "bay" / "a.csv")
    (raw / "cove").symlink_to(secret, target_is_directory=True)
    opened: list[Path] = []
    for name in ("sha256_of", "read_text_file"):
        real = getattr(ingest_module, name)
        monkeypatch.setattr(
            ingest_module, name, lambda path, *a, _real=real: opened.append(path) or _real(path, *a)
        )
    con = open_work(tmp_path / "work.duckdb")
    found, _ = discover(raw, sources)
    results, _ = ingest_files(con, to_ingest(con, found), KEY, "r1")
    yield {"raw": raw, "found": found, "results": {r.file: r for r in results}, "opened": opened}
    con.close()


def test_a_link_out_of_the_raw_folder_is_rejected_unread(linked: dict) -> None:
    results = linked["results"]
    for rel in ("bay/out.csv", "cove/secret.csv"):
        result = results[rel]
        assert (result.status, result.message, result.sha256) == ("rejected", OUTSIDE, "")
        assert (result.rows_read, result.rows_loaded) == (0, 0)
    assert OUTSIDE == "a symbolic link to a file outside the raw folder"
    raw = linked["raw"]
    assert raw / "bay" / "out.csv" not in linked["opened"]
    assert raw / "cove" / "secret.csv" not in linked["opened"]


def test_a_link_within_the_raw_folder_is_read_as_its_file(linked: dict) -> None:
    results = linked["results"]
    assert results["bay/a.csv"].status == "loaded"
    assert (results["bay/within.csv"].status, results["bay/within.csv"].message) == (
        "duplicate",
        "same bytes as bay/a.csv; skipped",
    )


def test_a_file_swapped_for_a_link_after_discovery_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tmp_path / "raw"
    (raw / "bay").mkdir(parents=True)
    (tmp_path / "secret.csv").write_text(f"{HEADER}\nTOPSECRET-LINE,P9,2010-01-01,2024-05-01,X\n")
    path = raw / "bay" / "a.csv"
    path.write_text(f"{HEADER}\n{GOOD}\n")
    found, _ = discover(raw, {"bay": _source(tmp_path / "sources")})
    assert [f.refused for f in found] == [""]
    path.unlink()
    path.symlink_to(tmp_path / "secret.csv")
    con = open_work(tmp_path / "work.duckdb")
    try:
        (result,), _ = ingest_files(con, found, KEY, "r1")
    finally:
        con.close()
    assert (result.status, result.message) == ("rejected", OUTSIDE)


def test_discovery_takes_a_link_out_by_its_own_size_and_time(linked: dict) -> None:
    (out,) = [f for f in linked["found"] if f.rel == "bay/out.csv"]
    link = (linked["raw"] / "bay" / "out.csv").lstat()
    assert isinstance(out, RawFile)
    assert (out.size, out.mtime, out.refused) == (link.st_size, link.st_mtime, OUTSIDE)


# --- file modes --------------------------------------------------------------------------


def test_private_files_nest_and_put_the_umask_back() -> None:
    before = os.umask(0o022)
    try:
        with private_files():
            with private_files():
                assert current_umask() == PRIVATE_UMASK
            assert current_umask() == PRIVATE_UMASK
        assert current_umask() == 0o022
    finally:
        os.umask(before)


def test_the_working_store_and_its_write_ahead_log_are_private(tmp_path: Path) -> None:
    before = os.umask(0o022)
    try:
        work = tmp_path / "work" / "store.duckdb"
        con = open_work(work)
        try:
            with private_files():
                con.execute(
                    "insert into runs (run_id, started_at, status) values ('r', now(), 'x')"
                )
            assert wal_path(work).exists()
            assert (mode(work), mode(wal_path(work)), mode(work.parent)) == (0o600, 0o600, 0o700)
        finally:
            con.close()
    finally:
        os.umask(before)


def test_the_report_is_for_the_group_only(tmp_path: Path) -> None:
    before = os.umask(0o022)
    try:
        path = write_report(tmp_path / "reports" / "r.html", "r", "published", [], [], "")
    finally:
        os.umask(before)
    assert (mode(path), mode(path.parent)) == (0o640, 0o750)


def test_a_shared_folder_keeps_its_set_group_id_bit(tmp_path: Path) -> None:
    folder = tmp_path / "curated"
    folder.mkdir()
    folder.chmod(0o2777)
    shared_folder(folder)
    assert mode(folder) == 0o2750
