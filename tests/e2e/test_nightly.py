"""End to end: synthetic extracts through the real nightly flow into a real DuckDB file."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
from collections import Counter
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pipelines.cli.commands import RunFailed, run_nightly
from pipelines.ingest.pseudonym import keyed_hashes, load_key
from pipelines.synth import generate

UNTIL = "2026-10"
AS_OF = date(2026, 11, 1)


def nightly_into(base: Path, raw: Path, truth: Path | None = None, plain: bool = False):
    return run_nightly(
        plain=plain,
        raw_dir=raw,
        db=base / "curated" / "whereabouts.duckdb",
        work_db=base / "work" / "work.duckdb",
        as_of=AS_OF,
        validation_dir=base / "reports",
        truth=truth,
    )


@pytest.fixture(scope="module")
def run(prefect_harness, tmp_path_factory):
    base = tmp_path_factory.mktemp("nightly")
    manifest = generate(base / "raw", seed=7, scale=0.5, until=UNTIL)
    summary = nightly_into(base, base / "raw", truth=base / "linkage_truth.csv")
    con = duckdb.connect(str(base / "curated" / "whereabouts.duckdb"), read_only=True)
    yield {"base": base, "manifest": manifest, "summary": summary, "con": con}
    con.close()


def test_run_publishes_and_summarises(run):
    summary = run["summary"]
    assert summary.status == "published"
    files = sum(len(s["files"]) for s in run["manifest"]["sources"].values())
    assert (summary.files_seen, summary.files_new) == (files, files)
    assert Path(summary.report).exists()


def test_the_agencies_are_linked_above_the_precision_and_recall_floors(run):
    linkage = run["summary"].linkage
    assert linkage[0].startswith("linkage: ") and "pairs awaiting review" in linkage[0]
    identity = duckdb.connect(str(run["base"] / "work" / "work-identity.duckdb"), read_only=True)
    measured = dict(
        identity.execute(
            "select measure, value from linkage_quality "
            "where breakdown = 'all' and measure in ('precision', 'recall')"
        ).fetchall()
    )
    identity.close()
    assert measured["precision"] >= 0.995
    assert measured["recall"] >= 0.99
    assert linkage[1:] == [
        f"{m} of pairs: {measured[m]:.4f} (against {run['base'] / 'linkage_truth.csv'})"
        for m in ("precision", "recall")
    ]
    # Every episode carries its person; some persons are known to more than one source.
    (episodes, with_person, across) = (
        run["con"]
        .execute(
            "select count(*), count(person_id), "
            "(select count(*) from (select person_id from episodes group by 1 "
            "having count(distinct source) > 1)) from episodes"
        )
        .fetchone()
    )
    assert episodes == with_person
    assert across > 0


def _planted_gap(key: bytes, gap: dict) -> tuple:
    """A planted gap as its agency_reconciliation row would be: kind, start, episode ids."""
    council, police = gap["council"], gap["police"]
    council_id = None
    if council is not None:
        # An SSDA903 episode's reference is the keyed hash of its CHILD and MIS_START.
        ref = f"{council['child']}|{council['start']}"
        council_id = (
            "riverton:903-" + keyed_hashes(key, "riverton", pa.array([ref]))[0].as_py()[:16]
        )
    police_id = None if police is None else f"{police['source']}:{police['episode_ref']}"
    return gap["kind"], gap["started_at"], council_id, police_id


def test_the_agencies_disagree_exactly_where_the_synthetic_data_plants_a_gap(run):
    """Linked children's records agree across agencies (pipelines.synth.alignment) but for
    the gaps planted on purpose: the reconciliation finds each of them and nothing else."""
    planted = run["manifest"]["reconciliation_gaps"]
    assert Counter(g["kind"] for g in planted) == {
        "council_missing_no_police_report": 5,
        "police_missing_no_council_episode": 5,
        "looked_after_unknown_to_council": 5,
    }
    key = load_key(create=False)
    found = (
        run["con"]
        .execute(
            "select kind, strftime(started_at, '%Y-%m-%d %H:%M'), council_episode_id, "
            "police_episode_id from agency_reconciliation"
        )
        .fetchall()
    )
    assert sorted(found, key=str) == sorted((_planted_gap(key, g) for g in planted), key=str)


def test_every_file_accounted_for_as_the_manifest_says(run):
    con = run["con"]
    ledger = {
        row[0]: row[1:]
        for row in con.execute(
            "select file, status, rows_read, rows_loaded, rows_quarantined, rows_out_of_scope "
            "from ingest_files"
        ).fetchall()
    }
    assert ledger == {
        f"{source}/{name}": (
            "loaded",
            expected["rows"],
            expected["loaded"],
            expected["quarantined"],
            expected["out_of_scope"],
        )
        for source, declared in run["manifest"]["sources"].items()
        for name, expected in declared["files"].items()
    }


def test_episodes_and_children_per_source_match_the_manifest(run):
    got = {
        row[0]: row[1:]
        for row in run["con"]
        .execute("select source, count(*), count(distinct child_id) from episodes group by 1")
        .fetchall()
    }
    # The council's identity files (la_children, ssda903_header, cme) carry no episodes.
    assert got == {
        source: (declared["episodes"], declared["children"])
        for source, declared in run["manifest"]["sources"].items()
        if declared["episodes"]
    }


def test_quarantine_lists_each_quarantined_row_once(run):
    con = run["con"]
    listed, ledger = con.execute(
        "select (select count(*) from quarantine), (select sum(rows_quarantined) from ingest_files)"
    ).fetchone()
    assert listed == ledger > 0
    assert con.execute(
        "select count(*) from (select file, row_number from quarantine group by all "
        "having count(*) > 1)"
    ).fetchone() == (0,)


def test_regime_changing_source_shows_all_three_regimes(run):
    rows = (
        run["con"]
        .execute(
            "select regime, min(reported_at)::date from episodes where source = 'northshire' "
            "group by 1 order by 2"
        )
        .fetchall()
    )
    assert [r[0] for r in rows] == ["single", "two_tier", "continuum"]
    assert rows[1][1] >= date(2016, 1, 1) and rows[2][1] >= date(2017, 1, 1)


def test_every_episode_is_classified_with_basis_regime_and_rule(run):
    assert run["con"].execute(
        "select count(*) from episodes where category is null or category_basis is null "
        "or rule is null or (regime is null and source <> 'riverton')"
    ).fetchone() == (0,)


def _strings_in(con: duckdb.DuckDBPyConnection) -> set[str]:
    tokens: set[str] = set()
    columns = con.execute(
        "select table_name, column_name from information_schema.columns where data_type = 'VARCHAR'"
    ).fetchall()
    for table, column in columns:
        for (value,) in con.execute(f'select distinct "{column}" from "{table}"').fetchall():
            if value:
                tokens.update(re.split(r"[\s;,:'()|/]+", value))
    return tokens


def test_no_person_reference_or_name_reaches_the_curated_database(run):
    from pipelines.identity.normalise import blank
    from pipelines.ingest.readers import read_text
    from pipelines.sources.declarations import load_sources

    sources = load_sources(Path("schemas/sources"))
    private: set[str] = set()
    for source in sources.values():
        for path in sorted((run["base"] / "raw" / source.name).iterdir()):
            text = read_text(path, source)
            column = "CHILD" if source.is_ssda903 else "person_ref"
            private.update(v for v in text[column].dropna().unique())
    # The fictional children's names, postcodes, UPNs and NHS numbers (pipelines.synth).
    names = set()
    for path in (run["base"] / "raw" / "southbay").glob("*.csv"):
        for row in csv.DictReader(path.read_text(encoding="utf-8").splitlines()):
            names.update(row[c] for c in ("forename", "surname") if row[c])
            names.update(row["postcode"].split())
    for path in (run["base"] / "raw" / "riverton_children").glob("*.csv"):
        for row in csv.DictReader(path.read_text(encoding="utf-8").splitlines()):
            names.update(row[c] for c in ("upn", "nhs_number", "police_ref") if row[c])
    # A placeholder ("unknown") is no one's name: the curated tables use the word themselves.
    names = {n for n in names if blank(n) is not None}
    assert private and names
    leaked = (private | names) & _strings_in(run["con"])
    assert leaked == set()


def test_a_second_run_on_the_same_files_ingests_nothing_and_changes_nothing(run, tmp_path):
    base = run["base"]
    tables = ["episodes", "children", "repeat_missing", "at_risk_children", "findings"]
    before = {t: run["con"].execute(f"select * from {t} order by all").fetchall() for t in tables}
    summary = nightly_into(base, base / "raw")
    assert (summary.files_new, summary.rows_read) == (0, 0)
    con = duckdb.connect(str(base / "curated" / "whereabouts.duckdb"), read_only=True)
    after = {t: con.execute(f"select * from {t} order by all").fetchall() for t in tables}
    con.close()
    assert after == before


def test_a_fresh_store_on_the_same_raw_folder_gives_identical_tables_run_plain(run, tmp_path):
    # The fixture's run is a Prefect flow; this one the same steps as plain calls (as from the
    # shell with no Prefect server).
    summary = nightly_into(tmp_path, run["base"] / "raw", plain=True)
    assert summary.status == "published"
    other = duckdb.connect(str(tmp_path / "curated" / "whereabouts.duckdb"), read_only=True)
    for table in ("episodes", "children", "repeat_missing", "at_risk_children", "quarantine"):
        query = f"select * from {table} order by all"
        assert other.execute(query).fetchall() == run["con"].execute(query).fetchall(), table
    other.close()


def test_a_file_over_the_quarantine_threshold_leaves_the_last_good_database(run, tmp_path):
    base = tmp_path / "held"
    shutil.copytree(run["base"] / "raw", base / "raw")
    nightly_into(base, base / "raw")
    published = base / "curated" / "whereabouts.duckdb"
    good = hashlib.sha256(published.read_bytes()).hexdigest()
    (base / "raw" / "southbay" / "southbay_broken.csv").write_text(
        "episode_ref,person_ref,date_of_birth,reported_at\n"
        "X1,HELD-P1,2012-01-01,2026-10-30 10:00\n"
        "X2,,2012-01-01,2026-10-30 10:00\n"
    )
    with pytest.raises(RunFailed) as failure:
        nightly_into(base, base / "raw")
    assert str(failure.value) == (
        "file southbay/southbay_broken.csv: 1 of 2 rows quarantined (50.0% > 5%); "
        "most often rule required (1 rows)"
    )
    assert hashlib.sha256(published.read_bytes()).hexdigest() == good
    work = duckdb.connect(str(base / "work" / "work.duckdb"), read_only=True)
    assert work.execute(
        "select status, rows_read, rows_loaded, rows_quarantined from ingest_files "
        "where file = 'southbay/southbay_broken.csv'"
    ).fetchone() == ("held", 2, 0, 2)
    # Held back whole: both rows quarantined with their reasons, nothing else kept of it.
    assert work.execute(
        "select split_part(reasons, ':', 1) from quarantine "
        "where file = 'southbay/southbay_broken.csv' order by row_number"
    ).fetchall() == [("held",), ("required",)]
    assert work.execute(
        "select (select count(*) from episode_versions where file like '%broken%'), "
        "(select count(*) from person_keys where person_ref = 'HELD-P1')"
    ).fetchone() == (0, 0)
    assert work.execute("select status from runs order by started_at").fetchall()[-1] == ("failed",)
    work.close()


def test_manifest_is_written_beside_the_raw_folders(run):
    manifest = json.loads((run["base"] / "raw" / "synth_manifest.json").read_text())
    assert manifest["until"] == UNTIL


def test_the_analyst_notebook_runs_against_the_curated_database(run, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    path = Path("notebooks/at_risk_and_repeat_missing.ipynb")
    notebook = nbformat.read(path, as_version=4)
    monkeypatch.setenv("WHEREABOUTS_DB", str(run["base"] / "curated" / "whereabouts.duckdb"))
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute(cwd=str(path.parent))
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    listed = run["con"].execute("select count(*) from at_risk_children").fetchone()[0]
    printed = [o.get("text", "") for o in outputs if o.output_type == "stream"]
    assert f"{listed} children on the list\n" in printed
    (several,) = (
        run["con"].execute("select count(*) from persons where agency_count > 1").fetchone()
    )
    assert several > 0
    assert f"{several} children known to more than one agency\n" in printed
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 4
    # The year the data runs to is not a whole year, and its rows say so.
    (as_of,) = run["con"].execute("select as_of from build_manifest").fetchone()
    tables = " ".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    assert f"{as_of.year} (part year, to {as_of:%d %b})" in tables


def test_the_briefing_on_the_nightly_database_reads_across_agencies(run, tmp_path):
    from pypdf import PdfReader

    from pipelines.briefing import write_briefing

    # A copy: this process holds the published file open under another configuration.
    db = Path(shutil.copy(run["base"] / "curated" / "whereabouts.duckdb", tmp_path / "db.duckdb"))
    pdf = write_briefing(db, UNTIL, tmp_path, today=date(2026, 11, 2))
    pages = [page.extract_text() for page in PdfReader(pdf).pages]
    assert len(pages) == 8
    assert "7. Across agencies" in pages[6]
    assert "Children known to more than one agency" in pages[6]
    # Built from the demo generator's extracts: marked so on every page, with the marking.
    assert [(p.count("SYNTHETIC DATA"), p.count("OFFICIAL-SENSITIVE")) for p in pages] == [
        (2, 2)
    ] * 8
    # Aggregate only: no person id, child id or agency reference reaches the page.
    ids = (
        run["con"]
        .execute(
            "select person_id from persons union all select child_id from episodes "
            "union all select episode_ref from episodes union all select child_id from cme_episodes"
        )
        .fetchall()
    )
    text = "\n".join(pages)
    assert ids and not [i for (i,) in ids if i in text]
    again = write_briefing(db, UNTIL, tmp_path / "again", today=date(2026, 11, 2))
    assert again.read_bytes() == pdf.read_bytes()
