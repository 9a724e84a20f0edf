"""Linkage: exact rules, the saved model on twins, stable person ids, decisions, the review
queue and its pages, quality rows, and audited look-ups (real DuckDB files)."""

from __future__ import annotations

import os
import stat
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from pipelines import settings
from pipelines.identity.exact import exact_pairs
from pipelines.identity.linkage import link_records
from pipelines.identity.records import RECORD_COLUMNS, upsert_records
from pipelines.identity.review import decide, export_review
from pipelines.identity.store import open_identity_store

KEY = b"k" * 32
NOW = datetime(2025, 3, 1, 2, 30)
# NHS numbers whose check digit holds (normalise_nhs_number refuses the rest).
NHS_A, NHS_B = "9434765919", "4010232137"


def record(source: str, ref: str, **values: object) -> dict:
    """One raw identity record: OLIVIA SMITH, born 14/05/2010, unless told otherwise."""
    row = {
        "record_id": f"{source}:{ref}",
        "source": source,
        "agency": values.pop("agency", source),
        "person_ref": ref,
        "forename": "Olivia",
        "surname": "Smith",
        "date_of_birth": "2010-05-14",
        "sex": "F",
        "postcode": "NX1 2AB",
    }
    return row | values


def store(tmp_path: Path, rows: list[dict]) -> duckdb.DuckDBPyConnection:
    con = open_identity_store(tmp_path / "identity.duckdb")
    add(con, rows)
    return con


def add(con: duckdb.DuckDBPyConnection, rows: list[dict], run: str = "r1") -> None:
    upsert_records(con, pd.DataFrame(rows).reindex(columns=list(RECORD_COLUMNS)), run, NOW)


def link(con: duckdb.DuckDBPyConnection, run: str, truth: pd.DataFrame | None = None):
    return link_records(con, KEY, run, settings.LINKAGE_MODEL, NOW, truth)


def persons(con: duckdb.DuckDBPyConnection) -> list[list[str]]:
    rows = con.execute(
        "select list(record_id order by record_id) from person_links group by person_id order by 1"
    ).fetchall()
    return [r[0] for r in rows]


def person_of(con: duckdb.DuckDBPyConnection, record_id: str) -> str:
    return con.execute(
        "select person_id from person_links where record_id = ?", [record_id]
    ).fetchall()[0][0]


# Tiny cases named after the rule they show: two records, the exact links between them.
# Names and dates differ in every case, so only the rule can link them.
EXACT_CASES = [
    ("same_agency_ref", {"source": "la_children", "agency": "council"},
     {"source": "cme", "agency": "council"}, ["same_agency_ref"]),
    ("same_agency_ref_not_across_agencies", {"source": "force"}, {"source": "council"}, []),
    ("shared_nhs_number", {"source": "force", "nhs_number": NHS_A},
     {"source": "council", "person_ref": "C9", "nhs_number": "943 476 5919"},
     ["shared_nhs_number"]),
    ("shared_nhs_number_not_when_check_digit_fails",
     {"source": "force", "nhs_number": "9434765918"},
     {"source": "council", "person_ref": "C9", "nhs_number": "9434765918"}, []),
    ("shared_upn", {"source": "force", "upn": "A123456789012"},
     {"source": "council", "person_ref": "C9", "upn": "a1234 56789012"}, ["shared_upn"]),
    ("shared_upn_not_for_unknown", {"source": "force", "upn": "UN1"},
     {"source": "council", "person_ref": "C9", "upn": "UN1"}, []),
    ("la_child_ref", {"source": "force", "la_child_ref": "C9"},
     {"source": "council", "person_ref": "C9"}, ["la_child_ref"]),
    ("la_child_ref_not_within_an_agency", {"source": "force", "la_child_ref": "C9"},
     {"source": "force2", "agency": "force", "person_ref": "C9"}, []),
    ("police_ref", {"source": "council", "person_ref": "C9", "police_ref": "P1"},
     {"source": "force", "person_ref": "P1"}, ["police_ref"]),
    ("police_ref_not_to_a_record_that_carries_one",
     {"source": "council", "person_ref": "C9", "police_ref": "P1"},
     {"source": "force", "person_ref": "P1", "police_ref": "X"}, []),
]  # fmt: skip


@pytest.mark.parametrize(("case", "a", "b", "rules"), EXACT_CASES, ids=[c[0] for c in EXACT_CASES])
def test_exact_rules(tmp_path, case, a, b, rules):
    first = record(a.pop("source"), a.pop("person_ref", "P1"), **a)
    second = record(b.pop("source"), b.pop("person_ref", "P1"), forename="Zed",
                    surname="Quill", date_of_birth="2012-01-02", **b)  # fmt: skip
    con = store(tmp_path, [first, second])
    pair = tuple(sorted((first["record_id"], second["record_id"])))
    assert exact_pairs(con) == [(*pair, rule) for rule in rules]


def test_twins_stay_apart_and_each_twin_links_across_agencies(tmp_path):
    # Twins share surname, birth date, postcode and sex; only their forenames differ.
    con = store(
        tmp_path,
        [
            record("force", "P1", forename="Olivia"),
            record("force", "P2", forename="Amelia"),
            record("council", "C1", forename="Olivia"),
            record("council", "C2", forename="Amellia"),  # a typo
        ],
    )
    link(con, "r1")
    assert persons(con) == [["council:C1", "force:P1"], ["council:C2", "force:P2"]]
    assert con.execute("select count(*) from review_queue").fetchall() == [(0,)]


def test_a_new_record_joining_keeps_the_persons_id(tmp_path):
    con = store(tmp_path, [record("force", "P1"), record("council", "C1", nhs_number=NHS_A)])
    link(con, "r1")
    person = person_of(con, "force:P1")
    add(con, [record("cme", "E1", surname="Smyth-Jones", nhs_number=NHS_A)], run="r2")
    summary = link(con, "r2")
    assert summary.scored == 1
    assert persons(con) == [["cme:E1", "council:C1", "force:P1"]]
    assert person_of(con, "cme:E1") == person
    assert con.execute("select count(*) from person_changes").fetchall() == [(0,)]


def test_a_never_link_decision_splits_and_the_change_is_recorded(tmp_path):
    con = store(
        tmp_path,
        [
            record("force", "P1"),
            record("council", "C1", nhs_number=NHS_A),
            record("cme", "E1", nhs_number=NHS_A),
        ],
    )
    link(con, "r1")
    person = person_of(con, "force:P1")
    decide(con, "council:C1", "force:P1", "different", "reviewer", NOW)
    link(con, "r2")
    # The part with most of the person's records keeps its id; the other gets a new one.
    assert persons(con) == [["cme:E1", "council:C1"], ["force:P1"]]
    assert person_of(con, "council:C1") == person
    new = person_of(con, "force:P1")
    assert new != person
    assert con.execute("select * from person_changes").fetchall() == [
        (NOW, "r2", "split", person, new, "force:P1", "never-link decision by reviewer")
    ]


def test_a_must_link_decision_joins_and_the_merge_is_recorded(tmp_path):
    con = store(
        tmp_path,
        [record("force", "P1"), record("council", "C1", forename="Zed", date_of_birth="2012-1-2")],
    )
    link(con, "r1")
    assert persons(con) == [["council:C1"], ["force:P1"]]
    kept, gone = sorted((person_of(con, "council:C1"), person_of(con, "force:P1")))
    decide(con, "force:P1", "council:C1", "same", "reviewer", NOW)
    assert con.execute("select record_a, record_b, decision, decided_by from link_decisions"
                       ).fetchall() == [("council:C1", "force:P1", "same", "reviewer")]  # fmt: skip
    link(con, "r2")
    assert persons(con) == [["council:C1", "force:P1"]]
    # A tie in records and age: the smaller id survives.
    assert person_of(con, "force:P1") == kept
    assert con.execute("select change, person_id, other_person_id, reason from person_changes"
                       ).fetchall() == [("merge", kept, gone, "linked by decision")]  # fmt: skip


def test_pairs_between_the_thresholds_wait_for_review(tmp_path, monkeypatch):
    con = store(tmp_path, [record("force", "P1"), record("council", "C1", forename="Olivai")])
    # Nothing is sure enough to link: the pair waits in the queue, and the two stay apart.
    monkeypatch.setattr(settings, "LINK_UPPER_PROBABILITY", 1.01)
    link(con, "r1")
    queued = con.execute(
        "select record_a, record_b, match_probability, match_weight from review_queue"
    )
    (a, b, probability, weight), = queued.fetchall()  # fmt: skip
    assert (a, b) == ("council:C1", "force:P1")
    assert settings.LINK_LOWER_PROBABILITY <= probability < 1.01
    assert persons(con) == [["council:C1"], ["force:P1"]]
    pages = export_review(con, tmp_path / "review")
    assert [p.name for p in pages] == ["review-council:C1-force:P1.html"]
    page = pages[0].read_text()
    assert "OLIVAI" in page and "<svg" in page
    # The waterfall's steps (the prior the run used, then each comparison) add up to the
    # pair's match weight.
    assert "final match weight</text><rect" in page and f">{weight:+.2f}</text></svg>" in page
    assert "://" not in page and "src=" not in page
    assert stat.S_IMODE(os.stat(pages[0]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "review").st_mode) == 0o700
    # A reviewer's decision empties the queue and is obeyed.
    decide(con, "force:P1", "council:C1", "same", "reviewer", NOW)
    link(con, "r2")
    assert con.execute("select count(*) from review_queue").fetchall() == [(0,)]
    assert persons(con) == [["council:C1", "force:P1"]]


def test_quality_rows_count_records_persons_links_and_backlog(tmp_path):
    con = store(
        tmp_path,
        [record("force", "P1", nhs_number=NHS_A), record("council", "C1", nhs_number=NHS_A),
         record("force", "P2", forename="Amelia", nhs_number=NHS_B)],
    )  # fmt: skip
    truth = pd.DataFrame(
        {"record_id": ["force:P1", "council:C1", "force:P2"], "true_person": ["a", "a", "b"]}
    )
    link(con, "r1", truth)
    rows = con.execute(
        "select measure, breakdown, value from linkage_quality where run_id = 'r1' "
        "and measure not in ('precision', 'recall') order by all"
    ).fetchall()
    assert rows == [
        ("links", "model", 1.0),
        ("links", "shared_nhs_number", 1.0),
        ("persons", "all", 2.0),
        ("records", "all", 3.0),
        ("review_backlog", "all", 0.0),
    ]
    measured = con.execute(
        "select measure, breakdown, value from linkage_quality where run_id = 'r1' "
        "and measure in ('precision', 'recall') and value is not null order by all"
    ).fetchall()
    assert measured == [
        ("precision", "age_band=14-15", 1.0),
        ("precision", "all", 1.0),
        ("precision", "sex=F", 1.0),
        ("precision", "source_pair=council & force", 1.0),
        ("recall", "age_band=14-15", 1.0),
        ("recall", "all", 1.0),
        ("recall", "sex=F", 1.0),
        ("recall", "source_pair=council & force", 1.0),
    ]


def test_a_lookup_is_audited_and_shows_every_agencys_reference(tmp_path, capsys):
    from pipelines.cli.main import main

    con = store(tmp_path, [record("force", "P1"), record("council", "C1", nhs_number=NHS_A)])
    link(con, "r1")
    person = person_of(con, "force:P1")
    con.close()
    work = tmp_path / "work.duckdb"
    duckdb.connect(str(work)).execute("create table person_keys (child_id varchar, "
                                      "source varchar, person_ref varchar)").close()  # fmt: skip
    identity = ["--work-db", str(work), "--identity-db", str(tmp_path / "identity.duckdb")]
    assert main(["lookup", person, *identity, "--by", "duty social worker"]) == 0
    assert capsys.readouterr().out == (
        f"person_id: {person}\n"
        "  agency: council  source: council  person_ref: C1\n"
        "  agency: force  source: force  person_ref: P1\n"
    )
    assert main(["lookup", "nobody", *identity, "--by", "duty social worker"]) == 1
    assert capsys.readouterr().err == "whereabouts lookup: no child with id nobody\n"
    con = duckdb.connect(str(tmp_path / "identity.duckdb"), read_only=True)
    assert con.execute(
        "select looked_up_by, looked_up_id, records_shown from lookup_audit order by 3 desc"
    ).fetchall() == [("duty social worker", person, 2), ("duty social worker", "nobody", 0)]


def test_link_decide_and_review_from_the_command_line(tmp_path, capsys, monkeypatch):
    from pipelines.cli.main import main

    con = store(tmp_path, [record("force", "P1"), record("council", "C1", forename="Olivai")])
    monkeypatch.setattr(settings, "LINK_UPPER_PROBABILITY", 1.01)
    link(con, "r1")
    con.close()
    identity = ["--identity-db", str(tmp_path / "identity.duckdb")]
    assert main(["link", "review", "--out", str(tmp_path / "pages"), *identity]) == 0
    assert capsys.readouterr().out == f"1 pairs to review in {tmp_path / 'pages'}\n"
    decision = ["link", "decide", "force:P1", "council:C1", "different", *identity]
    assert main([*decision, "--by", "reviewer"]) == 0
    assert capsys.readouterr().out == "recorded: force:P1 and council:C1 are different\n"
    assert main(["link", "decide", "force:P1", "nobody", "same", *identity]) == 1
    assert capsys.readouterr().err == "whereabouts link: no identity record nobody\n"
    con = duckdb.connect(str(tmp_path / "identity.duckdb"), read_only=True)
    assert con.execute(
        "select record_a, record_b, decision, decided_by from link_decisions"
    ).fetchall() == [("council:C1", "force:P1", "different", "reviewer")]
    assert con.execute("select count(*) from review_queue").fetchall() == [(0,)]


def test_linking_without_a_saved_model_says_how_to_make_one(tmp_path):
    from pipelines.errors import MissingInput

    con = store(tmp_path, [record("force", "P1")])
    missing = tmp_path / "model.json"
    with pytest.raises(
        MissingInput, match=r"model.json: no linkage model \(run 'whereabouts link train'\)"
    ):
        link_records(con, KEY, "r1", missing, NOW)
    # Nothing of the failed run is kept.
    assert con.execute("select count(*) from linkage_runs").fetchall() == [(0,)]


def test_a_changed_record_is_scored_again_and_a_link_it_loses_is_a_split(tmp_path):
    con = store(
        tmp_path,
        [record("force", "P1", nhs_number=NHS_A), record("council", "C1", nhs_number=NHS_A)],
    )
    assert link(con, "r1").scored == 2
    person = person_of(con, "force:P1")
    assert persons(con) == [["council:C1", "force:P1"]]
    assert link(con, "r2").scored == 0  # nothing new or changed: nothing scored
    # The council corrects its record: another child altogether.
    corrected = record(
        "council", "C1", forename="Zed", date_of_birth="2012-01-02", nhs_number=NHS_B
    )
    add(con, [corrected], run="r3")
    assert link(con, "r3").scored == 1
    assert persons(con) == [["council:C1"], ["force:P1"]]
    assert person_of(con, "force:P1") != person or person_of(con, "council:C1") != person
    ((change, kept, new, moved, reason),) = con.execute(
        "select change, person_id, other_person_id, record_id, reason from person_changes"
    ).fetchall()
    assert (change, kept, reason) == (
        "split",
        person,
        "links no longer hold (records changed or keys corrected)",
    )
    assert person_of(con, moved) == new


def test_the_working_store_ends_with_exactly_the_mapping_it_was_given(tmp_path: Path) -> None:
    import pyarrow as pa

    from pipelines.ingest.working_store import open_work, replace_linkage_output

    def mapping(*rows: tuple[str, str, str]) -> dict[str, pa.Table]:
        names = ["child_id", "person_id", "linked_by"]
        return {"person_ids": pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})}

    work = open_work(tmp_path / "work.duckdb")
    replace_linkage_output(work, mapping(("c1", "p1", "alone"), ("c2", "p2", "alone")))
    # c1 unchanged, c2 moves person, c3 is new, and a child the mapping no longer has goes.
    replace_linkage_output(
        work, mapping(("c1", "p1", "alone"), ("c2", "p1", "model"), ("c3", "p3", "alone"))
    )
    assert work.execute("select * from person_ids order by all").fetchall() == [
        ("c1", "p1", "alone"),
        ("c2", "p1", "model"),
        ("c3", "p3", "alone"),
    ]
    replace_linkage_output(work, mapping(("c3", "p3", "alone")))
    assert work.execute("select * from person_ids").fetchall() == [("c3", "p3", "alone")]
    work.close()


def person_hash(seed: str) -> str:
    """The id rule 3 gives a cluster whose smallest record (with its attempt) is `seed`."""
    from pipelines.ingest.pseudonym import keyed_hashes

    return keyed_hashes(KEY, settings.PERSON_ID_NAMESPACE, pa.array([seed])).to_pylist()[0]


def test_a_record_alone_never_takes_an_id_used_before(tmp_path):
    con = store(
        tmp_path,
        [record("council", "C1", nhs_number=NHS_A), record("force", "P1", nhs_number=NHS_A)],
    )
    link(con, "r1")
    assert person_of(con, "force:P1") == person_hash("council:C1")
    # A record the store no longer holds: the force's record keeps the person's id.
    con.execute("delete from identity_records where record_id = 'council:C1'")
    link(con, "r2")
    assert persons(con) == [["force:P1"]]
    # It returns with nothing in common with anyone: a person alone, whose own hash is taken.
    stranger = {"forename": "Zed", "surname": "Quill", "date_of_birth": "2001-01-02"}
    add(con, [record("council", "C1", nhs_number=NHS_B, **stranger)], run="r3")
    link(con, "r3")
    assert persons(con) == [["council:C1"], ["force:P1"]]
    assert person_of(con, "force:P1") == person_hash("council:C1")
    assert person_of(con, "council:C1") == person_hash("council:C1#2")


def test_a_new_id_is_never_one_used_before(tmp_path):
    upn = "A123456789012"
    school = {"forename": "Zed", "surname": "Quill", "date_of_birth": "2012-01-02"}
    council = record("council", "C1", upn=upn, nhs_number=NHS_A)
    con = store(
        tmp_path, [record("cme", "E1", **school), council, record("force", "P1", nhs_number=NHS_A)]
    )
    link(con, "r1")
    assert person_of(con, "cme:E1") == person_hash("cme:E1")  # its smallest record's hash
    # The school's record gains the council's UPN: merged into the larger person.
    add(con, [record("cme", "E1", upn=upn, **school)], run="r2")
    link(con, "r2")
    assert persons(con) == [["cme:E1", "council:C1", "force:P1"]]
    assert person_of(con, "cme:E1") == person_hash("council:C1")
    # The UPN was a mistake: the school's record leaves. Its own hash was a person's id
    # until the merge, so it gets the next one.
    add(con, [record("cme", "E1", upn="A123456789013", **school)], run="r3")
    link(con, "r3")
    assert persons(con) == [["cme:E1"], ["council:C1", "force:P1"]]
    assert person_of(con, "cme:E1") == person_hash("cme:E1#2")
