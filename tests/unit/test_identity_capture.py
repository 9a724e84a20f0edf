"""Identity capture: what the ingest hands out, what it keeps away from the working store,
how the identity layouts are accounted for, and how the identity store is upserted.

Every name and reference here is made up.
"""

from __future__ import annotations

import os
import stat
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pipelines import settings
from pipelines.errors import ConfigurationError
from pipelines.identity.capture import store_identities
from pipelines.identity.store import open_identity_store
from pipelines.ingest.identities import CAPTURED
from pipelines.ingest.ledger import to_ingest
from pipelines.ingest.pipeline import FileResult, ingest_files
from pipelines.ingest.pseudonym import child_id, key_fingerprint
from pipelines.ingest.working_store import open_work
from pipelines.sources.declarations import Source, load_source
from pipelines.sources.discovery import discover

KEY = b"0123456789abcdef" * 4
NAME = "Zebediah"


class Drop:
    """A raw folder, declarations and a working store; identities collected as handed out."""

    def __init__(self, base: Path) -> None:
        self.raw, self.decl = base / "raw", base / "sources"
        self.sources: dict[str, Source] = {}
        self.con = open_work(base / "work.duckdb")
        self.identities: list[pa.Table] = []

    def declare(self, name: str, body: str) -> None:
        self.decl.mkdir(parents=True, exist_ok=True)
        path = self.decl / f"{name}.yaml"
        path.write_text(f"name: {name}\n{body}", encoding="utf-8")
        self.sources[name] = load_source(path)
        (self.raw / name).mkdir(parents=True, exist_ok=True)

    def write(self, rel: str, lines: list[str]) -> None:
        (self.raw / rel).write_text("\n".join(lines) + "\n", encoding="utf-8")

    def run(self, run_id: str = "r1") -> dict[str, FileResult]:
        files, _ = discover(self.raw, self.sources)
        pending = to_ingest(self.con, files)
        results, _ = ingest_files(self.con, pending, KEY, run_id, identities=self.identities)
        return {r.file: r for r in results}

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def captured(self) -> list[dict]:
        """Every handed-out row, sorted by source and person_ref."""
        rows = [r for t in self.identities for r in t.to_pylist()]
        return sorted(rows, key=lambda r: (r["source"], r["person_ref"]))

    def working_store_text(self) -> str:
        """Every value of every working-store table, as one text."""
        tables = [t for (t,) in self.rows("select table_name from duckdb_tables()")]
        return " ".join(
            str(v) for t in tables for row in self.rows(f"select * from {t}") for v in row
        )


def blank_identity(**values: str | None) -> dict:
    return dict.fromkeys(CAPTURED) | values


@pytest.fixture
def drop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Drop:
    monkeypatch.setattr(settings, "MAX_QUARANTINE_SHARE", 1.0)
    return Drop(tmp_path)


POLICE_HEADER = "episode_ref,person_ref,date_of_birth,reported_at,sex,forename,surname,upn,address"


def test_a_police_files_identities_are_handed_out_never_stored(drop: Drop) -> None:
    drop.declare("bay", "layout: standard\n")
    drop.write(
        "bay/a.csv",
        [
            POLICE_HEADER,
            f"E1,P1,2010-01-01,2024-05-01 10:00,F,{NAME},Quillfeather,,1 High St",
            "E2,P1,2010-01-01,2024-06-01 10:00,F,,Quillfeather-Smythe,A123456789012,",
            f"E3,,2010-01-01,2024-06-01 10:00,F,{NAME},Quarantined,,",  # no person_ref
            f"E4,P4,2000-01-01,2024-06-01 10:00,M,{NAME},Adult,,",  # out of scope
            "E5,P5,2011-02-03,bad,M,Hidden,Away,,",  # quarantined: no identity kept
        ],
    )
    result = drop.run()["bay/a.csv"]
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (5, 2, 2)
    assert result.rows_out_of_scope == 1
    # One row per child loaded: each field its latest non-blank value, as written.
    assert drop.captured() == [
        blank_identity(
            source="bay",
            agency="bay",
            person_ref="P1",
            record_id=child_id(KEY, "bay", "P1"),
            forename=NAME,
            surname="Quillfeather-Smythe",
            date_of_birth="2010-01-01",
            sex="F",
            upn="A123456789012",
        )
    ]
    text = drop.working_store_text()
    for identity in (NAME, "Quillfeather", "A123456789012", "Hidden", "1 High St"):
        assert identity not in text
    # The quarantined rows keep their mapped raw values, identity columns not among them.
    assert drop.rows("select reasons from quarantine order by row_number") == [
        ("required: person_ref is blank",),
        ("date_parses: reported_at is not a date (use YYYY-MM-DD or dd/mm/yyyy, "
         "with or without HH:MM)",),
    ]  # fmt: skip


def test_a_mapped_layout_maps_identity_columns(drop: Drop) -> None:
    drop.declare(
        "cove",
        "agency: cove_police\nlayout:\n  columns: {episode_ref: Ref, person_ref: Subject, "
        "date_of_birth: DOB, reported_at: Reported, forename: FIRST_NAME, la_child_ref: LA_ID}\n",
    )
    drop.write(
        "cove/a.csv",
        ["Ref,Subject,DOB,Reported,FIRST_NAME,LA_ID", f"E1,S1,01/02/2012,01/05/2024,{NAME},C77"],
    )
    assert drop.run()["cove/a.csv"].rows_loaded == 1
    assert drop.captured() == [
        blank_identity(
            source="cove",
            agency="cove_police",
            person_ref="S1",
            record_id=child_id(KEY, "cove", "S1"),
            forename=NAME,
            date_of_birth="01/02/2012",
            la_child_ref="C77",
        )
    ]


LAYOUT_FILES = {
    "ssda903_header": [
        "CHILD,SEX,DOB,ETHNIC,UPN",
        "C1,2,01/02/2012,WBRI,A123456789012",
        ",1,01/02/2013,WBRI,UN1",
        "C2,1,03/04/2013,WBRI,UN2",
        "C1,2,01/02/2012,WBRI,",
    ],
    "la_children": [
        "person_ref,forename,surname,date_of_birth,sex,postcode,upn,nhs_number,looked_after",
        f"C1,{NAME},Quillfeather,2012-02-01,F,ab1 2cd,,9990000018,Y",
        f",{NAME},Noref,2012-02-01,F,,,,Y",
        "C2,Amos,Quillfeather,2013-04-03,M,,,,N",
        "C1,Zeb,,,,,,,Y",
    ],
    "cme": [
        "person_ref,forename,surname,date_of_birth,upn,postcode,off_roll_on,reason,resolved_on",
        f"C1,{NAME},Quillfeather,2012-02-01,,AB12CD,2024-03-01,moved,",
        f",{NAME},Noref,2012-02-01,,,2024-03-01,moved,",
        "C2,Amos,Quillfeather,2013-04-03,,,2024-03-02,unknown,2024-04-01",
        "C1,Zeb,,,,,2024-05-01,moved,",
    ],
}


@pytest.mark.parametrize("layout", list(LAYOUT_FILES))
def test_an_identity_layout_loads_identities_and_no_episodes(drop: Drop, layout: str) -> None:
    drop.declare("council", f"agency: shire_council\nlayout: {layout}\n")
    drop.write("council/file_2024_25.csv", LAYOUT_FILES[layout])
    result = drop.run()["council/file_2024_25.csv"]
    assert (result.status, result.rows_read, result.rows_loaded) == ("loaded", 4, 3)
    assert (result.rows_quarantined, result.rows_out_of_scope) == (1, 0)
    assert drop.rows("select count(*) from episode_versions") == [(0,)]
    assert drop.rows("select source, file, row_number, reasons, raw_values from quarantine") == [
        ("council", "council/file_2024_25.csv", 1, "required: person_ref is blank", None)
    ]
    assert drop.rows("select source, person_ref from person_keys order by 2") == [
        ("council", "C1"),
        ("council", "C2"),
    ]
    captured = drop.captured()
    assert [(r["agency"], r["person_ref"], r["record_id"]) for r in captured] == [
        ("shire_council", "C1", child_id(KEY, "council", "C1")),
        ("shire_council", "C2", child_id(KEY, "council", "C2")),
    ]
    assert NAME not in drop.working_store_text()
    first = captured[0]
    if layout == "ssda903_header":
        assert (first["sex"], first["date_of_birth"], first["upn"]) == (
            "2",
            "01/02/2012",
            "A123456789012",
        )
    else:
        # Row 3's forename is the latest; blanks there never replace row 0's values.
        assert (first["forename"], first["surname"], first["date_of_birth"]) == (
            "Zeb",
            "Quillfeather",
            "2012-02-01",
        )


def test_a_held_identity_file_quarantines_every_row(
    drop: Drop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "MAX_QUARANTINE_SHARE", 0.2)
    drop.declare("council", "layout: la_children\n")
    drop.write("council/children.csv", LAYOUT_FILES["la_children"])
    result = drop.run()["council/children.csv"]
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == (
        "held",
        4,
        0,
        4,
    )
    assert drop.rows("select count(*), count(raw_values) from quarantine") == [(4, 0)]
    assert drop.identities == []


def test_an_identity_file_without_its_columns_is_rejected(drop: Drop) -> None:
    drop.declare("council", "layout: cme\n")
    drop.write("council/cme.csv", ["person_ref,forename", "C1,Ann"])
    result = drop.run()["council/cme.csv"]
    assert (result.status, result.message) == (
        "rejected",
        "required column(s) absent: surname, date_of_birth, upn, postcode, off_roll_on, "
        "reason, resolved_on",
    )


def test_no_collector_no_identities_kept(drop: Drop) -> None:
    drop.declare("bay", "layout: standard\n")
    drop.write("bay/a.csv", [POLICE_HEADER, f"E1,P1,2010-01-01,2024-05-01 10:00,F,{NAME},Q,,"])
    files, _ = discover(drop.raw, drop.sources)
    results, _ = ingest_files(drop.con, files, KEY, "r1")
    assert results[0].rows_loaded == 1
    assert NAME not in drop.working_store_text()


# --- the identity store ------------------------------------------------------------------


def identity_table(*rows: dict) -> pa.Table:
    return pa.table(
        {c: [r.get(c) for r in rows] for c in CAPTURED},
        schema=pa.schema([(c, pa.string()) for c in CAPTURED]),
    )


RECORD = {
    "source": "bay",
    "agency": "bay",
    "person_ref": "P1",
    "record_id": "r-1",
    "forename": "Zoë",
    "surname": "O'Brien-Smith",
    "date_of_birth": "01/02/2010",
    "sex": "2",
    "upn": "UN2",
    "nhs_number": "9990000017",
}


def stored(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        "select record_id, forename, surname, date_of_birth, sex, postcode, upn, nhs_number, "
        "first_seen_at, updated_at, updated_run from identity_records order by 1"
    ).fetchall()


def test_identities_are_stored_normalised_latest_non_null_winning(tmp_path: Path) -> None:
    path = tmp_path / "store-identity.duckdb"
    con = open_identity_store(path)
    day1, day2, day3 = (datetime(2024, 1, d) for d in (1, 2, 3))
    written = store_identities(con, [identity_table(RECORD)], "run1", day1, [("bay/a.csv", "s1")])
    assert written == 1
    assert stored(con) == [
        ("r-1", "ZOE", "O BRIEN SMITH", date(2010, 2, 1), "F", None, None, None, day1, day1,
         "run1"),
    ]  # fmt: skip
    # A later file: a blank forename keeps the stored one, a new surname and postcode win;
    # within one run, the later table wins.
    later = RECORD | {"forename": None, "surname": "Smith", "postcode": "ab12cd"}
    second = RECORD | {"record_id": "r-2", "person_ref": "P2", "sex": "1"}
    store_identities(con, [identity_table(later, second), identity_table(second)], "run2", day2)
    assert stored(con) == [
        ("r-1", "ZOE", "SMITH", date(2010, 2, 1), "F", "AB1 2CD", None, None, day1, day2, "run2"),
        ("r-2", "ZOE", "O BRIEN SMITH", date(2010, 2, 1), "M", None, None, None, day2, day2,
         "run2"),
    ]  # fmt: skip
    # Nothing new: the record is not marked as changed.
    store_identities(con, [identity_table(later)], "run3", day3)
    assert stored(con)[0][-2:] == (day2, "run2")
    assert con.execute("select file, sha256, run_id from identity_files").fetchall() == [
        ("bay/a.csv", "s1", "run1")
    ]
    con.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_failed_store_leaves_the_identity_store_as_it_was(tmp_path: Path) -> None:
    con = open_identity_store(tmp_path / "store-identity.duckdb")
    store_identities(con, [identity_table(RECORD)], "run1", datetime(2024, 1, 1))
    before = stored(con)
    # The records are upserted, then the file's row fails (no sha256): all is rolled back.
    changed = identity_table(RECORD | {"surname": "New"}, RECORD | {"record_id": "r-9"})
    with pytest.raises(duckdb.ConstraintException):
        store_identities(con, [changed], "run2", datetime(2024, 1, 2), [("bay/b.csv", None)])
    assert stored(con) == before
    assert con.execute("select count(*) from identity_files").fetchall() == [(0,)]


def test_a_cross_reference_is_read_where_the_file_has_it(drop: Drop) -> None:
    drop.declare("council", "layout: la_children\n")
    header, *rows = LAYOUT_FILES["la_children"]
    drop.write(
        "council/children.csv",
        [
            header + ",police_ref",
            *(row + (",NS-77" if row.startswith("C2") else ",") for row in rows),
        ],
    )
    assert drop.run()["council/children.csv"].status == "loaded"
    assert [(r["person_ref"], r["police_ref"]) for r in drop.captured()] == [
        ("C1", None),
        ("C2", "NS-77"),
    ]


def test_an_identity_store_refuses_another_key(tmp_path: Path) -> None:
    path = tmp_path / "identity.duckdb"
    open_identity_store(path, key=KEY).close()
    open_identity_store(path, key=KEY).close()  # the same key opens it again
    with pytest.raises(ConfigurationError) as refused:
        open_identity_store(path, key=b"another key" * 4)
    fingerprint = key_fingerprint(KEY)[:12]
    assert str(refused.value).startswith(
        f"{path}: the identity store was built with another pseudonymisation key "
        f"(fingerprint {fingerprint}, this key's "
    )
