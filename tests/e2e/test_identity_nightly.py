"""End to end: identities planted in a police file and a council's extracts go through the
real nightly into the identity store (mode 0600), normalised, and nowhere else: not the
curated database, the working store, the validation report, the exports or the run's output.
Every row of the identity layouts is accounted for in the ledger.

All names are made up; the planted one (Zebediah Quillfeather) is chosen to be found only
where it is put.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import output_of
from pypdf import PdfReader

from pipelines.cli.main import main
from pipelines.ingest.pseudonym import child_id, load_key

AS_OF = date(2025, 6, 1)
FORENAME, SURNAME, POSTCODE = "Zebediah", "Quillfeather", "qx9 9zz"
# The planted values in every spelling they could take on the way.
PLANTED = (FORENAME, SURNAME, FORENAME.upper(), SURNAME.upper(), "QX9 9ZZ", POSTCODE)
# The council's children: enough that one row quarantined stays under the publish gate (5%).
CHILDREN = 30
POLICE = (
    "episode_ref,person_ref,date_of_birth,reported_at,returned_at,sex,missing_from,"
    "forename,surname,postcode,upn,nhs_number,la_child_ref"
)


def police_file() -> str:
    rows = [
        f"H{i},HP{i % 20},2012-03-{1 + i % 28:02d},2024-06-{1 + i % 28:02d} 10:00,"
        f"2024-06-{1 + i % 28:02d} 18:00,{'FM'[i % 2]},home,Ann{i % 20},Other,AB1 2CD,,,"
        for i in range(40)
    ]
    # The planted child: twice, the council's id recorded on the later report (open from
    # 9 May to 30 June: on the practitioners' list of 20 May).
    rows += [
        f"Z1,HZ,2012-02-01,2024-05-01 10:00,2024-05-01 20:00,M,home,{FORENAME},{SURNAME},"
        f"{POSTCODE},,,",
        f"Z2,HZ,2012-02-01,2024-05-09 10:00,2024-06-30 20:00,M,home,{FORENAME}, {SURNAME} ,"
        ",,999 000 0018,C-ZQ",
    ]
    # Quarantined (a sex code that is not one): its identity columns are never kept.
    rows.append(f"Z3,HZ,2012-02-01,2024-05-10 10:00,,Q,home,{FORENAME},{SURNAME},{POSTCODE},,,")
    return "\n".join([POLICE, *rows]) + "\n"


def children_file() -> str:
    header = "person_ref,forename,surname,date_of_birth,sex,postcode,upn,nhs_number,looked_after"
    rows = [f"C-{i},Bea{i},Other,2013-01-{1 + i % 28:02d},F,,UN1,,Y" for i in range(CHILDREN)]
    rows.append(f"C-ZQ,{FORENAME},{SURNAME}-Smythe,01/02/2012,M,{POSTCODE},,9990000018,Y")
    rows.append(f",{FORENAME},{SURNAME},01/02/2012,M,,,,Y")  # no person_ref: quarantined
    return "\n".join([header, *rows]) + "\n"


def header_file() -> str:
    rows = [f"C-{i},2,01/01/2013,WBRI,UN2" for i in range(CHILDREN)]
    rows += ["C-ZQ,1,01/02/2012,WBRI,A123456789012", ",1,01/02/2012,WBRI,"]
    return "\n".join(["CHILD,SEX,DOB,ETHNIC,UPN", *rows]) + "\n"


def cme_file() -> str:
    header = "person_ref,forename,surname,date_of_birth,upn,postcode,off_roll_on,reason,resolved_on"
    rows = [f"C-ZQ,{FORENAME},{SURNAME},2012-02-01,,{POSTCODE},2024-04-01,moved,"]
    rows.append("C-3,Bea3,Other,2013-01-04,,,2024-04-02,unknown,2024-05-01")
    return "\n".join([header, *rows]) + "\n"


SOURCES = {
    "harbour": ("layout: standard\n", "episodes.csv", police_file),
    "shire_children": ("agency: shire\nlayout: la_children\n", "children.csv", children_file),
    "shire_header": ("agency: shire\nlayout: ssda903_header\n", "header_2024_25.csv", header_file),
    "shire_cme": ("agency: shire\nlayout: cme\n", "cme.csv", cme_file),
}


@pytest.fixture(scope="module")
def run(prefect_harness, tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("identity")
    raw, decl = base / "raw", base / "sources"
    decl.mkdir()
    for name, (layout, file, content) in SOURCES.items():
        (decl / f"{name}.yaml").write_text(f"name: {name}\n{layout}")
        (raw / name).mkdir(parents=True)
        (raw / name / file).write_text(content())
    db, work = base / "curated" / "whereabouts.duckdb", base / "work" / "work.duckdb"
    nightly = [
        "nightly", "--raw", str(raw), "--sources", str(decl), "--db", str(db),
        "--work-db", str(work), "--as-of", AS_OF.isoformat(), "--reports", str(base / "reports"),
    ]  # fmt: skip
    previous = os.umask(0o022)  # the store's mode must not be the umask's doing
    try:
        with output_of(base / "output.txt") as output:
            codes = [main(nightly)] + [
                main(["export", "--format", fmt, "--out", str(base / fmt), "--db", str(db)])
                for fmt in ("csv", "parquet")
            ]
    finally:
        os.umask(previous)
    yield {
        "base": base,
        "nightly": nightly,
        "codes": codes,
        "db": db,
        "work": work,
        "identity": base / "work" / "work-identity.duckdb",
        "output": output.text,
    }


def identity_rows(path: Path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(
            "select source, agency, person_ref, forename, surname, date_of_birth, sex, "
            "postcode, upn, nhs_number, la_child_ref from identity_records "
            "where person_ref in ('HZ', 'C-ZQ') order by source"
        ).fetchall()
    finally:
        con.close()


def test_the_run_publishes(run: dict) -> None:
    assert run["codes"] == [0, 0, 0], run["output"][-3000:]


def test_the_identity_store_holds_the_planted_child_normalised(run: dict) -> None:
    path = run["identity"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    born = date(2012, 2, 1)
    assert identity_rows(path) == [
        ("harbour", "harbour", "HZ", "ZEBEDIAH", "QUILLFEATHER", born, "M", "QX9 9ZZ", None,
         "9990000018", "C-ZQ"),
        ("shire_children", "shire", "C-ZQ", "ZEBEDIAH", "QUILLFEATHER SMYTHE", born, "M",
         "QX9 9ZZ", None, "9990000018", None),
        ("shire_cme", "shire", "C-ZQ", "ZEBEDIAH", "QUILLFEATHER", born, None, "QX9 9ZZ", None,
         None, None),
        ("shire_header", "shire", "C-ZQ", None, None, born, "M", None, "A123456789012", None,
         None),
    ]  # fmt: skip
    con = duckdb.connect(str(path), read_only=True)
    try:
        ids = dict(
            con.execute("select source || '/' || person_ref, record_id from identity_records")
        .fetchall()
        )  # fmt: skip
    finally:
        con.close()
    # Every child loaded has a record, keyed by its child_id; the UN1/UN2 UPNs are blank.
    key = load_key(create=False)
    expected = {f"harbour/HP{i}": child_id(key, "harbour", f"HP{i}") for i in range(20)}
    expected["harbour/HZ"] = child_id(key, "harbour", "HZ")
    for name, refs in (
        ("shire_children", [f"C-{i}" for i in range(CHILDREN)] + ["C-ZQ"]),
        ("shire_header", [f"C-{i}" for i in range(CHILDREN)] + ["C-ZQ"]),
        ("shire_cme", ["C-ZQ", "C-3"]),
    ):
        expected |= {f"{name}/{ref}": child_id(key, name, ref) for ref in refs}
    assert ids == expected


def test_the_ledger_accounts_for_every_row(run: dict) -> None:
    con = duckdb.connect(str(run["db"]), read_only=True)
    try:
        ledger = con.execute(
            "select file, status, rows_read, rows_loaded, rows_quarantined, rows_out_of_scope "
            "from ingest_files order by file"
        ).fetchall()
        quarantined = con.execute(
            "select file, row_number, reasons from quarantine "
            "where file not like 'harbour/%' order by file, row_number"
        ).fetchall()
        episodes = con.execute("select source, count(*) from episodes group by 1").fetchall()
    finally:
        con.close()
    assert ledger == [
        ("harbour/episodes.csv", "loaded", 43, 42, 1, 0),
        ("shire_children/children.csv", "loaded", 32, 31, 1, 0),
        ("shire_cme/cme.csv", "loaded", 2, 2, 0, 0),
        ("shire_header/header_2024_25.csv", "loaded", 32, 31, 1, 0),
    ]
    assert quarantined == [
        ("shire_children/children.csv", 31, "required: person_ref is blank"),
        ("shire_header/header_2024_25.csv", 31, "required: person_ref is blank"),
    ]
    assert episodes == [("harbour", 42)]


def _database_text(path: Path) -> str:
    """Every value of every table of a DuckDB file, as text (its bytes may be compressed)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        found = []
        for (table,) in con.execute("select table_name from duckdb_tables()").fetchall():
            columns = [c[0] for c in con.execute(f"describe {table}").fetchall()]
            joined = " || ' | ' || ".join(f"coalesce(\"{c}\"::varchar, '')" for c in columns)
            found += [v[0] for v in con.execute(f"select {joined} from {table}").fetchall()]
        return "\n".join(found)
    finally:
        con.close()


def test_no_identity_value_leaves_the_identity_store(run: dict) -> None:
    base = run["base"]
    places: dict[str, bytes] = {
        "curated database file": run["db"].read_bytes(),
        "curated database values": _database_text(run["db"]).encode(),
        "working store file": run["work"].read_bytes(),
        "working store values": _database_text(run["work"]).encode(),
        "run output": run["output"].encode(),
    }
    for path in sorted((base / "reports").glob("*.*")):  # the run's report and the index
        places[f"validation {path.name}"] = path.read_bytes()
    for path in sorted((base / "csv").glob("*.csv")):
        places[f"export {path.name}"] = path.read_bytes()
    for path in sorted((base / "parquet").glob("*.parquet")):
        places[f"export {path.name}"] = path.read_bytes()
        table = pq.read_table(path)
        values = " ".join(str(v) for column in table.columns for v in column.to_pylist())
        places[f"export {path.name} values"] = values.encode()
    assert len(places) > 10
    leaks = [
        (place, value)
        for place, data in places.items()
        for value in PLANTED
        if value.encode() in data
    ]
    assert leaks == []
    # The planted name is where it belongs: in the identity store.
    assert FORENAME.upper() in _database_text(run["identity"])


def test_a_lost_identity_store_is_filled_again_by_the_next_run(run: dict) -> None:
    before = identity_rows(run["identity"])
    run["identity"].unlink()
    with output_of(run["base"] / "output2.txt") as output:
        code = main(run["nightly"])
    assert code == 0, output.text[-3000:]
    assert "files: 4 new of 4 seen" in output.text
    assert identity_rows(run["identity"]) == before
    # Nothing is read again once every loaded file's identities are stored (the run asks for
    # attention, exit 3: no source sent a new file).
    with output_of(run["base"] / "output3.txt") as output:
        assert main(run["nightly"]) == 3
    assert "files: 0 new of 4 seen" in output.text


KILL_AT_IDENTITY_COMMIT = """
import os, signal, sys
from pipelines.cli.main import main
from pipelines.identity import capture

real = capture.store_identities


class KilledAtCommit:
    # The real connection; the process dies where the identity store would commit.
    def __init__(self, con):
        self.con = con

    def execute(self, sql, *args):
        if sql == "commit":
            os.kill(os.getpid(), signal.SIGKILL)
        return self.con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.con, name)


capture.store_identities = lambda con, *a, **k: real(KilledAtCommit(con), *a, **k)
main(sys.argv[1:])
"""


def _identity_store_rows(path: Path) -> list[list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [
            con.execute(f"select * from {table} order by all").fetchall()
            for table in ("identity_records", "identity_files")
        ]
    finally:
        con.close()


def test_a_run_killed_at_the_identity_commit_leaves_the_store_as_it_was(run: dict) -> None:
    from prefect.settings import PREFECT_API_URL

    base = run["base"]
    (base / "raw" / "harbour" / "later.csv").write_text(
        f"{POLICE}\nK1,HK,2013-03-03,2024-07-01 10:00,2024-07-01 20:00,F,home,Keziah,"
        "Thistlewood,,,,\n"
    )
    before, published = _identity_store_rows(run["identity"]), run["db"].read_bytes()
    env = os.environ | {"PREFECT_API_URL": str(PREFECT_API_URL.value())}
    done = subprocess.run(
        [sys.executable, "-c", KILL_AT_IDENTITY_COMMIT, *run["nightly"]],
        env=env,
        capture_output=True,
    )
    assert done.returncode == -9, done.stderr.decode()[-2000:]
    assert _identity_store_rows(run["identity"]) == before
    assert run["db"].read_bytes() == published
    # The working store did load the file; the next run reads it again for its identities
    # (exit 3: the council's sources sent nothing new).
    with output_of(base / "output4.txt") as output:
        assert main(run["nightly"]) == 3, output.text[-3000:]
    assert "files: 1 new of 5 seen" in output.text
    con = duckdb.connect(str(run["identity"]), read_only=True)
    try:
        assert con.execute(
            "select forename, surname from identity_records where person_ref = 'HK'"
        ).fetchall() == [("KEZIAH", "THISTLEWOOD")]
    finally:
        con.close()


def test_the_practitioners_list_names_the_child_and_only_there(run: dict) -> None:
    base, db = run["base"], run["db"]
    restricted = base / "restricted"
    common = ["--db", str(db), "--work-db", str(run["work"]), "--identity-db",
              str(run["identity"]), "--by", "duty-sergeant", "--purpose", "e2e"]  # fmt: skip
    briefing = ["briefing", "--month", "2024-05", "--db", str(db), "--out", str(base / "pdf")]
    with output_of(base / "at-risk-output.txt") as output:
        codes = [
            main(["at-risk", "--out", str(restricted / "may.csv"), "--as-of", "2024-05-20",
                  "--sources", str(base / "sources"), *common]),
            main(["at-risk", "--out", str(restricted / "latest.xlsx"), *common]),
            main(briefing),
        ]  # fmt: skip
    assert codes == [0, 0, 0], output.text[-3000:]
    listed = pd.read_csv(restricted / "may.csv", dtype=str, keep_default_na=False)
    planted = listed[listed["forename"] == FORENAME.upper()]
    shown = planted[["priority_tier", "surname", "date_of_birth", "references"]]
    assert shown.values.tolist() == [
        ["2", f"{SURNAME.upper()}; {SURNAME.upper()} SMYTHE", "2012-02-01",
         "harbour: HZ; shire_children: C-ZQ; shire_cme: C-ZQ; shire_header: C-ZQ"],
    ]  # fmt: skip
    # On the published run date nothing is open or recent but the child's spell off the
    # school roll, open since 2024-04-01: tier 8, the days counted to the run date.
    latest = pd.read_excel(restricted / "latest.xlsx", engine="calamine")
    assert latest[["forename", "priority_tier", "reasons"]].values.tolist() == [
        [FORENAME.upper(), 8, f"off school roll {(AS_OF - date(2024, 4, 1)).days} days (shire_cme)"]
    ]
    con = duckdb.connect(str(run["identity"]), read_only=True)
    audited = con.execute(
        "select exported_by, as_of, file_format, children from export_audit order by exported_at"
    ).fetchall()
    con.close()
    assert audited[-2:] == [
        ("duty-sergeant", date(2024, 5, 20), "csv", len(listed)),
        ("duty-sergeant", AS_OF, "xlsx", 1),
    ]
    (pdf,) = (base / "pdf").glob("*.pdf")
    pdf_text = " ".join(page.extract_text() for page in PdfReader(pdf).pages)
    places = {
        "curated database file": db.read_bytes(),
        "curated database values": _database_text(db).encode(),
        "briefing PDF": pdf.read_bytes(),
        "briefing PDF text": pdf_text.encode(),
        "at-risk output": output.text.encode(),
    }
    leaks = [(p, v) for p, data in places.items() for v in PLANTED if v.encode() in data]
    assert leaks == []
