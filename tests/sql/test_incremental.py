"""The incremental build: when only new files arrived it rebuilds the children they touch and
must give exactly the tables a full build gives; anything else makes the build full."""

from __future__ import annotations

import shutil
import stat
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import (
    FAST_DIR,
    altered,
    curated_rows,
    episode,
    examples,
    la_source,
    police_source,
    tables_of,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.ingest.working_store import (
    EPISODE_COLUMNS,
    forget_files,
    insert_frame,
    next_ingest_seq,
    open_work,
)
from pipelines.quality.curated import REPLACED
from pipelines.sources.declarations import RegimeChange
from pipelines.warehouse import build as building
from pipelines.warehouse.build import CURATED, build

AS_OF = date(2024, 12, 31)
SOURCES = {"force": police_source()}
# The first night: children a and b, four episodes.
FIRST_NIGHT = [
    episode(episode_ref="E1", child_id="child-a", reported_at="2024-05-01 20:00"),
    episode(episode_ref="E2", child_id="child-a", reported_at="2024-05-10 20:00"),
    episode(episode_ref="E3", child_id="child-b", reported_at="2024-05-03 20:00"),
    episode(episode_ref="E4", child_id="child-b", risk_grade="low", reported_at="2024-06-03"),
]
LATER = "2024-07-01 01:00"  # extracted after the first night's versions


def store_file(work: Path, file: str, rows: list[dict]) -> None:
    """Store one file's versions with its ledger row, as the ingest does, next in arrival."""
    con = open_work(work)
    seq = next_ingest_seq(con)
    frame = pd.DataFrame(rows).reindex(columns=EPISODE_COLUMNS)
    frame = frame.assign(file=file, ingest_seq=seq, row_number=range(len(frame)))
    for column in EPISODE_COLUMNS:
        if column.endswith("_at"):
            frame[column] = pd.to_datetime(frame[column])
    insert_frame(con, "episode_versions", frame)
    con.execute(
        "insert into ingest_files (file, sha256, source, status, rows_read, rows_loaded, "
        "rows_quarantined, rows_out_of_scope, ingest_seq) "
        "values (?, 'sha', 'force', 'loaded', ?, ?, 0, 0, ?)",
        [file, len(rows), len(rows), seq],
    )
    con.close()


@pytest.fixture(scope="module")
def first_night_stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A working store after the first night and the database that night published."""
    base = tmp_path_factory.mktemp("first_night")
    work = base / "work.duckdb"
    store_file(work, "force/night1.csv", FIRST_NIGHT)
    published = build(work, base / "night1.duckdb", SOURCES, AS_OF).path
    return work, published


@pytest.fixture
def first_night(first_night_stores: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """This test's own copy of the first night's stores (built once per module: a build
    takes half a second, and most tests here start from that night)."""
    copies = []
    for path in first_night_stores:
        for file in (path, path.with_name(path.name + ".wal")):
            if file.exists():
                shutil.copy2(file, tmp_path / file.name)
        copies.append(tmp_path / path.name)
    work, published = copies
    return work, published


# One case per way new versions can change a child's history; children_rebuilt counts
# every child with a version of a changed episode.
INCREMENTAL_CASES = {
    "new_episode_for_a_known_child": (
        [episode(episode_ref="E5", child_id="child-a", reported_at="2024-05-20 20:00")],
        1,
    ),
    "new_version_moves_an_episode_to_another_child": (
        [episode(episode_ref="E2", child_id="child-b", extracted_at=LATER)],
        2,
    ),
    "new_version_regrades_an_episode": (
        [episode(episode_ref="E4", child_id="child-b", risk_grade="high", extracted_at=LATER)],
        1,
    ),
    "late_older_version_does_not_win": (
        [
            episode(
                episode_ref="E1", child_id="child-a", returned_at=None, extracted_at="2024-01-01"
            )
        ],
        1,
    ),
    "new_child": (
        [episode(episode_ref="E9", child_id="child-c", reported_at="2024-11-01 20:00")],
        1,
    ),
    "nothing_new": ([], 0),
}


@pytest.mark.parametrize(
    ("rows", "rebuilt"), INCREMENTAL_CASES.values(), ids=INCREMENTAL_CASES.keys()
)
def test_incremental_build_gives_the_full_builds_curated_rows(first_night, tmp_path, rows, rebuilt):
    work, published = first_night
    if rows:
        store_file(work, "force/night2.csv", rows)
    before = curated_rows(published)
    incremental = build(work, tmp_path / "inc.duckdb", SOURCES, AS_OF, published=published)
    full = build(work, tmp_path / "full.duckdb", SOURCES, AS_OF, full=True)
    assert (incremental.mode, incremental.reason, incremental.children_rebuilt) == (
        "incremental",
        "new versions since ingest_seq 1",
        rebuilt,
    )
    assert curated_rows(incremental.path) == curated_rows(full.path)
    # The cases must change the published tables, or equality would prove nothing.
    assert (curated_rows(incremental.path)["episodes"] != before["episodes"]) == bool(rows)
    assert stat.S_IMODE(incremental.path.stat().st_mode) == 0o640
    # Beside the tables, a copy of the rows put in place of the published file's, for the
    # curated suite: each one a row of its table. Publishing drops them.
    partly = building.PER_CHILD + building.PER_CHILD_DATED + building.PER_PERSON
    con = duckdb.connect(str(incremental.path), read_only=True)
    kept = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
    stray = [con.execute(f"from {REPLACED}.{t} except all from {t}").fetchall() for t in partly]
    con.close()
    assert sorted(kept) == sorted([("main", t) for t in CURATED] + [(REPLACED, t) for t in partly])
    assert stray == [[]] * len(partly)
    building.publish(incremental.path, tmp_path / "published.duckdb")
    assert tables_of(tmp_path / "published.duckdb") == sorted(("main", t) for t in CURATED)


def test_a_build_times_each_of_its_parts(first_night, tmp_path):
    work, published = first_night
    store_file(work, "force/night2.csv", INCREMENTAL_CASES["new_child"][0])
    incremental = build(work, tmp_path / "inc.duckdb", SOURCES, AS_OF, published=published)
    full = build(work, tmp_path / "full.duckdb", SOURCES, AS_OF, full=True)
    assert list(full.seconds) == [*CURATED, "checkpoint"]
    skipped = building.PER_CHILD + building.PER_CHILD_DATED + building.PER_PERSON
    assert list(incremental.seconds) == [
        "copy the published file",
        "rebuild the touched children's rows",
        "rebuild the touched persons' rows",
        *(t for t in CURATED if t not in skipped),
        "checkpoint",
    ]
    assert all(s >= 0 for s in [*full.seconds.values(), *incremental.seconds.values()])


def link_persons(work: Path, rows: list[tuple[str, str, str]]) -> None:
    """Replace the working store's person ids, as the identity stage does each night."""
    con = open_work(work)
    con.execute("delete from person_ids")
    if rows:
        con.executemany("insert into person_ids values (?, ?, ?)", rows)
    con.close()


def test_a_merge_of_persons_re_models_children_with_nothing_new(first_night, tmp_path):
    work, published = first_night
    link_persons(work, [("child-a", "person-1", "agency_ref"), ("child-b", "person-2", "model")])
    second = build(work, tmp_path / "night2.duckdb", SOURCES, AS_OF, published=published).path
    # The two children are found to be one person: no episode has a new version.
    link_persons(work, [("child-a", "person-1", "agency_ref"), ("child-b", "person-1", "model")])
    incremental = build(work, tmp_path / "inc.duckdb", SOURCES, AS_OF, published=second)
    full = build(work, tmp_path / "full.duckdb", SOURCES, AS_OF, full=True)
    assert (incremental.mode, incremental.children_rebuilt) == ("incremental", 1)
    assert curated_rows(incremental.path) == curated_rows(full.path)
    con = duckdb.connect(str(incremental.path), read_only=True)
    assert con.execute(
        "select person_id, string_agg(distinct child_id, ',' order by child_id), count(*) "
        "from episodes group by all"
    ).fetchall() == [("person-1", "child-a,child-b", 4)]
    con.close()


def test_a_reviewers_decision_alone_re_models_the_persons_row(first_night, tmp_path):
    work, published = first_night
    link_persons(work, [("child-a", "person-1", "model"), ("child-b", "person-1", "model")])
    second = build(work, tmp_path / "night2.duckdb", SOURCES, AS_OF, published=published).path
    # A reviewer confirms the link: the same person, linked by decision; nothing else new.
    link_persons(work, [("child-a", "person-1", "model"), ("child-b", "person-1", "decision")])
    incremental = build(work, tmp_path / "inc.duckdb", SOURCES, AS_OF, published=second)
    full = build(work, tmp_path / "full.duckdb", SOURCES, AS_OF, full=True)
    assert (incremental.mode, incremental.children_rebuilt) == ("incremental", 0)
    assert curated_rows(incremental.path) == curated_rows(full.path)
    con = duckdb.connect(str(incremental.path), read_only=True)
    assert con.execute("select person_id, linked_by_review from persons").fetchall() == [
        ("person-1", True)
    ]
    con.close()


def test_a_run_date_that_moves_re_models_the_rows_it_changes(first_night, tmp_path):
    """E1, reported on 1 May 2024, leaves the last 12 months on 1 May 2025: child-a's and its
    person's counts change with no new version and no new link."""
    work, published = first_night
    link_persons(work, [("child-a", "person-1", "model"), ("child-b", "person-2", "model")])
    linked = build(work, tmp_path / "linked.duckdb", SOURCES, AS_OF, published=published).path
    later = date(2025, 5, 1)
    incremental = build(work, tmp_path / "inc.duckdb", SOURCES, later, published=linked)
    full = build(work, tmp_path / "full.duckdb", SOURCES, later, full=True)
    assert (incremental.mode, incremental.children_rebuilt) == ("incremental", 0)
    assert curated_rows(incremental.path) == curated_rows(full.path)
    con = duckdb.connect(str(incremental.path), read_only=True)
    try:
        children = con.execute(
            "select child_id, episodes_last_12_months from children order by 1"
        ).fetchall()
        persons = con.execute(
            "select person_id, episodes_last_12_months from person_repeat order by 1"
        ).fetchall()
    finally:
        con.close()
    assert children == [("child-a", 1), ("child-b", 2)]
    assert persons == [("person-1", 1), ("person-2", 2)]


def test_a_council_record_with_no_episodes_re_models_its_persons_gaps(tmp_path):
    """child-a, looked after, is unknown to the council until a council record of it with no
    episode is linked: the next incremental build has its police gap instead."""
    sources = {"force": police_source(), "council": la_source()}
    work = tmp_path / "work.duckdb"
    store_file(
        work, "force/night1.csv", [FIRST_NIGHT[0] | {"looked_after": "Y", "risk_grade": "low"}]
    )
    link_persons(work, [("child-a", "person-1", "model")])
    first = build(work, tmp_path / "night1.duckdb", sources, AS_OF).path
    con = open_work(work)
    con.execute("insert into person_keys values ('child-c', 'council', 'C1')")
    con.close()
    link_persons(work, [("child-a", "person-1", "model"), ("child-c", "person-1", "model")])
    later = build(work, tmp_path / "night2.duckdb", sources, AS_OF, published=first)
    full = build(work, tmp_path / "full.duckdb", sources, AS_OF, full=True)
    assert (later.mode, later.children_rebuilt) == ("incremental", 0)
    for built in (first, later.path, full.path):
        con = duckdb.connect(str(built), read_only=True)
        gaps = con.execute("select kind, person_id from agency_reconciliation").fetchall()
        known = con.execute("select person_id, known_to_council from persons").fetchall()
        con.close()
        if built == first:
            assert (gaps, known) == ([("looked_after_unknown_to_council", "person-1")],
                                     [("person-1", False)])  # fmt: skip
        else:
            assert (gaps, known) == ([("police_missing_no_council_episode", "person-1")],
                                     [("person-1", True)])  # fmt: skip
    assert curated_rows(later.path) == curated_rows(full.path)


def test_a_moved_episode_leaves_its_old_child(first_night, tmp_path):
    work, published = first_night
    store_file(work, "force/night2.csv", INCREMENTAL_CASES[
        "new_version_moves_an_episode_to_another_child"][0])  # fmt: skip
    built = build(work, tmp_path / "inc.duckdb", SOURCES, AS_OF, published=published)
    con = duckdb.connect(str(built.path), read_only=True)
    assert con.execute(
        "select child_id, count(*), string_agg(episode_ref, ',' order by episode_ref) "
        "from episodes group by all order by all"
    ).fetchall() == [("child-a", 1, "E1"), ("child-b", 3, "E2,E3,E4")]
    assert con.execute(
        "select build_mode, children_rebuilt, last_ingest_seq, versions_built, files_built "
        "from build_manifest"
    ).fetchone() == ("incremental", 2, 2, 5, 2)
    con.close()


def test_an_episode_moved_on_an_earlier_night_stays_with_its_new_child(first_night, tmp_path):
    work, published = first_night
    store_file(work, "force/night2.csv", [
        episode(episode_ref="E2", child_id="child-b", extracted_at=LATER)])  # fmt: skip
    published = build(work, tmp_path / "night2.duckdb", SOURCES, AS_OF, published=published).path
    # Night 3 touches child a only; E2's older version under child a must not win back.
    store_file(work, "force/night3.csv", [
        episode(episode_ref="E5", child_id="child-a", reported_at="2024-05-20 20:00")])  # fmt: skip
    built = build(work, tmp_path / "night3.duckdb", SOURCES, AS_OF, published=published)
    assert (built.mode, built.children_rebuilt) == ("incremental", 1)
    full = build(work, tmp_path / "full.duckdb", SOURCES, AS_OF, full=True)
    assert curated_rows(built.path) == curated_rows(full.path)
    con = duckdb.connect(str(built.path), read_only=True)
    assert con.execute(
        "select episode_ref, child_id from episodes order by episode_ref"
    ).fetchall() == [
        ("E1", "child-a"),
        ("E2", "child-b"),
        ("E3", "child-b"),
        ("E4", "child-b"),
        ("E5", "child-a"),
    ]
    con.close()


def test_a_file_forgotten_and_stored_again_is_never_taken_for_built(first_night, tmp_path):
    work, published = first_night
    night2 = [episode(episode_ref="E5", child_id="child-a", reported_at="2024-05-20 20:00")]
    store_file(work, "force/night2.csv", night2)
    published = build(work, tmp_path / "night2.duckdb", SOURCES, AS_OF, published=published).path
    con = open_work(work)
    forget_files(con, ["force/night2.csv"])
    con.close()
    # The same number of rows again, regraded: it must not reuse night 2's ingest_seq.
    store_file(work, "force/night2.csv", [night2[0] | {"risk_grade": "high"}])
    built = build(work, tmp_path / "again.duckdb", SOURCES, AS_OF, published=published)
    assert (built.mode, built.reason) == ("full", "files built before were replaced or forgotten")
    con = duckdb.connect(str(work), read_only=True)
    assert con.execute("select file, ingest_seq from ingest_files order by all").fetchall() == [
        ("force/night1.csv", 1),
        ("force/night2.csv", 3),
    ]
    con.close()


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_what_a_build_writes_is_private_until_it_is_published(
    first_night, tmp_path, monkeypatch, mode
):
    work, published = first_night
    store_file(work, "force/night2.csv", INCREMENTAL_CASES["new_child"][0])
    target = tmp_path / ".night2.building"
    seen = {}
    real = building.model_sql

    def looking(name: str) -> str:
        if name == "build_manifest":  # the last table: everything else is written
            for path in tmp_path.glob(".night2.building*"):
                seen[path.name] = stat.S_IMODE(path.stat().st_mode)
        return real(name)

    monkeypatch.setattr(building, "model_sql", looking)
    built = build(work, target, SOURCES, AS_OF, published=published, full=mode == "full")
    assert built.mode == mode
    assert seen == {".night2.building": 0o600, ".night2.building.wal": 0o600}
    assert stat.S_IMODE(built.path.stat().st_mode) == 0o640


def _replace_first_file(work: Path, published: Path) -> Path:
    con = open_work(work)
    forget_files(con, ["force/night1.csv"])
    con.close()
    store_file(work, "force/night1.csv", FIRST_NIGHT[:2])
    return published


def _regimes_changed(work: Path, published: Path) -> Path:
    SOURCES["force"] = police_source(regimes=(RegimeChange(date(2024, 1, 1), "two_tier"),))
    return published


def _published_altered(statement: str):
    """A change that gives the build a copy of the published file with one statement applied."""
    return lambda work, published: altered(published, published.parent, statement)


def _store_recreated(work: Path, published: Path) -> Path:
    # Built again from the raw files under another key: same numbers, other child ids.
    work.unlink()
    store_file(work, "force/night1.csv", [row | {"child_id": "child-x"} for row in FIRST_NIGHT])
    store_file(work, "force/night2.csv", INCREMENTAL_CASES["new_child"][0])
    return published


def _unreadable(work: Path, published: Path) -> Path:
    published.write_bytes(b"not a database" * 1000)
    return published


# One case per reason the build must be full, with the reason the run summary gives.
FULL_CASES = {
    "no_published_database": (lambda work, published: None, False, "no published database"),
    "full_rebuild_requested": (lambda work, published: published, True, "full rebuild requested"),
    "source_declarations_changed": (
        _regimes_changed,
        False,
        "models, settings or source declarations changed",
    ),
    "a_built_file_was_replaced": (
        _replace_first_file,
        False,
        "files built before were replaced or forgotten",
    ),
    "working_store_recreated": (
        _store_recreated,
        False,
        "the published database was built from another working store",
    ),
    "last_full_build_a_week_ago": (
        _published_altered("update build_manifest set last_full_build_on = last_full_build_on - 7"),
        False,
        "the last full build was 7 days ago",
    ),
    "published_database_has_no_manifest": (
        _published_altered("drop table build_manifest"),
        False,
        "the published database has no build manifest",
    ),
    "published_database_unreadable": (
        _unreadable,
        False,
        "the published database could not be read (IOException)",
    ),
}


@pytest.mark.parametrize(("change", "full", "reason"), FULL_CASES.values(), ids=FULL_CASES.keys())
def test_a_build_is_full_when_an_incremental_one_might_differ(
    first_night, tmp_path, monkeypatch, change, full, reason
):
    monkeypatch.setitem(SOURCES, "force", SOURCES["force"])  # restored after the test
    work, published = first_night
    store_file(work, "force/night2.csv", INCREMENTAL_CASES["new_child"][0])
    previous = change(work, published)
    built = build(work, tmp_path / "next.duckdb", SOURCES, AS_OF, published=previous, full=full)
    assert (built.mode, built.reason) == ("full", reason)
    fresh = build(work, tmp_path / "fresh.duckdb", SOURCES, AS_OF)
    assert curated_rows(built.path) == curated_rows(fresh.path)


# Random nights: each file restates some of a few episodes, with any child, time, grade,
# flag or extraction time, so that episodes move between children, regrade, reopen and
# arrive out of order. Every night's incremental build must equal a full one.
night_row = st.fixed_dictionaries(
    {
        "child": st.sampled_from("abc"),
        "day": st.integers(0, 200),
        "hours_away": st.none() | st.integers(1, 24 * 40),
        "recorded": st.none() | st.sampled_from(["missing", "absent"]),
        "grade": st.none() | st.sampled_from(["no_apparent_risk", "low", "medium", "high"]),
        "cse": st.sampled_from("YN"),
        "looked_after": st.sampled_from("YN"),
        "extracted_day": st.integers(0, 400),
    }
)
night_rows = st.dictionaries(st.sampled_from(["E1", "E2", "E3", "E4", "E5", "E6"]), night_row,
                             max_size=6)  # fmt: skip
# Each night's links: which person each child is (none, or one of three) and how it was
# linked, so that persons merge, split and gain or lose a reviewer's decision.
night_links = st.dictionaries(
    st.sampled_from("abc"), st.tuples(st.sampled_from(["p1", "p2", "p3"]),
                                      st.sampled_from(["model", "decision"])))  # fmt: skip
# Each night's run date, in days from the first day episodes are drawn on: it moves forward,
# back or not at all, so episodes enter and leave the last 12 months and the run date.
night_as_of = st.integers(0, 600)
nights = st.lists(st.tuples(night_rows, night_links, night_as_of), min_size=2, max_size=4)


@settings(max_examples=examples(20), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nights)
def test_any_sequence_of_nights_builds_incrementally_to_the_full_curated_rows(drawn) -> None:
    start = datetime(2024, 3, 1, 20)
    sources = {"force": police_source(regimes=(RegimeChange(date(2024, 6, 1), "two_tier"),))}
    with tempfile.TemporaryDirectory(dir=FAST_DIR) as folder:
        base = Path(folder)
        work, published = base / "work.duckdb", None
        for n, (night, links, as_of_day) in enumerate(drawn):
            as_of = start.date() + timedelta(days=as_of_day)
            rows = [
                episode(
                    episode_ref=ref,
                    child_id=f"child-{row['child']}",
                    reported_at=start + timedelta(days=row["day"]),
                    returned_at=None
                    if row["hours_away"] is None
                    else start + timedelta(days=row["day"], hours=row["hours_away"]),
                    recorded_category=row["recorded"],
                    risk_grade=row["grade"],
                    cse_flag=row["cse"],
                    looked_after=row["looked_after"],
                    extracted_at=start + timedelta(days=row["extracted_day"]),
                )
                for ref, row in night.items()
            ]
            if rows:
                store_file(work, f"force/night{n}.csv", rows)
            else:
                open_work(work).close()
            link_persons(work, [(f"child-{c}", p, by) for c, (p, by) in links.items()])
            built = build(work, base / f"night{n}.duckdb", sources, as_of, published=published)
            full = build(work, base / "full.duckdb", sources, as_of, full=True)
            assert built.mode == ("full" if published is None else "incremental")
            assert curated_rows(built.path) == curated_rows(full.path), f"night {n}"
            published = built.path
