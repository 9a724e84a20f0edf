"""The monthly briefing PDF, written from a small curated database built here with SQL."""

from __future__ import annotations

import random
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from pypdf import PdfReader

from pipelines.briefing import PROVISIONAL, write_briefing
from pipelines.errors import UsageError

MONTH = "2026-10"
TODAY = date(2026, 11, 3)  # the briefing's "today": MONTH is over; the data runs to 2 Nov
FIRST_MONTH = datetime(2025, 9, 1)  # 14 months up to and including MONTH
RAW_VALUE = "RAW-VALUE-NEVER-PUBLISHED"

SCHEMA = """
CREATE TABLE episodes (
    episode_id VARCHAR, source VARCHAR, episode_ref VARCHAR, child_id VARCHAR,
    reported_at TIMESTAMP, last_seen_at TIMESTAMP, returned_at TIMESTAMP, is_open BOOLEAN,
    duration_hours DOUBLE, duration_band VARCHAR, found_within_24h BOOLEAN, category VARCHAR,
    category_basis VARCHAR, regime VARCHAR, rule VARCHAR, risk_grade VARCHAR,
    initial_risk_grade VARCHAR, looked_after BOOLEAN, missing_from VARCHAR, sex VARCHAR,
    age_at_start INTEGER, birth_month VARCHAR, cse_flag BOOLEAN, outcome VARCHAR,
    rhi_offered_at TIMESTAMP, rhi_offered_within_72h BOOLEAN, absent_needs_review BOOLEAN,
    in_repeat_cohort_at_report BOOLEAN
);
CREATE TABLE ingest_files (
    file VARCHAR, sha256 VARCHAR, source VARCHAR, status VARCHAR, rows_read BIGINT,
    rows_loaded BIGINT, rows_quarantined BIGINT, rows_out_of_scope BIGINT, message VARCHAR
);
CREATE TABLE quarantine (source VARCHAR, file VARCHAR, row_number BIGINT, reasons VARCHAR);
CREATE TABLE findings (
    rule VARCHAR, severity VARCHAR, source VARCHAR, file VARCHAR, row_number BIGINT,
    episode_ref VARCHAR, message VARCHAR
);
CREATE TABLE runs (
    run_id VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP, status VARCHAR, as_of DATE
);
CREATE TABLE build_manifest (build_mode VARCHAR, as_of DATE);
"""

# The derived tables, built from episodes the way the contract defines them.
DERIVED = """
CREATE TABLE children AS
SELECT child_id, min(reported_at) AS first_reported_at, max(reported_at) AS last_reported_at,
       count(*) AS episodes, count(*) FILTER (WHERE category = 'missing') AS missing_episodes,
       count(*) FILTER (WHERE category = 'absent') AS absent_episodes,
       bool_or(looked_after) AS looked_after
FROM episodes GROUP BY child_id;
CREATE TABLE repeat_missing AS
WITH s AS (
    SELECT child_id, episode_id, reported_at, '3_in_90_days' AS definition,
           lag(reported_at, 2) OVER (PARTITION BY child_id ORDER BY reported_at) AS two_before
    FROM episodes WHERE category <> 'away'
    UNION ALL
    SELECT child_id, episode_id, reported_at, 'missing_3_in_90_days',
           lag(reported_at, 2) OVER (PARTITION BY child_id ORDER BY reported_at)
    FROM episodes WHERE category = 'missing'
)
SELECT child_id, definition, min(reported_at) AS entered_at,
       arg_min(episode_id, reported_at) AS qualifying_episode_id
FROM s WHERE reported_at <= two_before + INTERVAL 90 DAY GROUP BY child_id, definition;
CREATE TABLE rhi_compliance AS
SELECT strftime(returned_at, '%Y-%m') AS month, count(*) AS returns,
       count(*) FILTER (WHERE rhi_offered_within_72h) AS rhi_offered_within_72h
FROM episodes WHERE returned_at IS NOT NULL GROUP BY ALL;
"""

BANDS = [(24, "<24h"), (48, "24-48h"), (168, "2-7 days"), (720, "7-30 days")]


def _episode(rng: random.Random, n: int, child: str, reported: datetime, category: str) -> tuple:
    source = rng.choice(["northshire", "eastmoor", "riverton_la"])
    regime = None if source == "riverton_la" else rng.choice(["two_tier", "continuum"])
    last_seen = reported - timedelta(hours=rng.randint(0, 6))
    hours = rng.choice([2, 5, 9, 14, 20, 30, 60, 200, 900]) + rng.random()
    returned = last_seen + timedelta(hours=hours)
    is_open = returned > datetime(2026, 11, 1) or rng.random() < 0.03
    returned_at = None if is_open else returned
    band = "open" if is_open else next((b for h, b in BANDS if hours < h), ">30 days")
    grade = rng.choice(["no_apparent_risk", "low", "medium", "high", None])
    rhi_at = (
        None if is_open or rng.random() < 0.2 else returned + timedelta(hours=rng.randint(1, 120))
    )
    rhi_72 = None if is_open else (rhi_at is not None and rhi_at - returned <= timedelta(hours=72))
    cse = rng.random() < 0.1
    return (
        f"ep{n:05d}", source, f"REF/{n:05d}", child, reported, last_seen, returned_at, is_open,
        None if is_open else hours, band, None if is_open else hours < 24, category,
        rng.choice(["recorded", "risk_grade", "escalated", "derived"]), regime, "r1", grade,
        grade, rng.random() < 0.35, rng.choice(["home", "foster", "residential", "other", None]),
        rng.choice("MF"), rng.randint(8, 17), f"20{rng.randint(10, 18)}-0{rng.randint(1, 9)}",
        cse, None if is_open else rng.choice(["returned", "found_by_police", "found_by_other"]),
        rhi_at, rhi_72,
        category == "absent" and cse, False,
    )  # fmt: skip


def build_fixture(path: Path, seed: int = 20261031) -> Path:
    """A curated database of a few hundred episodes over 14 months, the same every time.

    MONTH is built to tempt disclosure: two 'away' episodes (a small cell) and six
    'undetermined' ones, the smallest other cell, which secondary suppression must hide.
    """
    rng = random.Random(seed)
    children = [f"child-{rng.getrandbits(40):010x}" for _ in range(90)]
    frequent = children[:8]  # a few children go missing again and again
    rows: list[tuple] = []
    for m in range(14):
        start = datetime(2025 + (8 + m) // 12, (8 + m) % 12 + 1, 1)
        if start.strftime("%Y-%m") == MONTH:
            categories = ["missing"] * 20 + ["absent"] * 9 + ["away"] * 2 + ["undetermined"] * 6
        else:
            weights = [60, 25, 5, 10]
            k = rng.randint(22, 34)
            categories = rng.choices(["missing", "absent", "away", "undetermined"], weights, k=k)
        for category in categories:
            child = rng.choice(frequent) if rng.random() < 0.4 else rng.choice(children)
            hour = rng.choice([1, 9, 13, 16, 17, 18, 19, 20, 21, 22, 23])
            reported = start + timedelta(
                days=rng.randint(0, 27), hours=hour, minutes=rng.randint(0, 59)
            )
            rows.append(_episode(rng, len(rows), child, reported, category))
    con = duckdb.connect(str(path))
    con.execute(SCHEMA)
    con.executemany(f"INSERT INTO episodes VALUES ({', '.join(['?'] * 28)})", rows)
    con.execute(DERIVED)
    con.execute("""
        INSERT INTO ingest_files VALUES
          ('northshire/a.csv', 'aa', 'northshire', 'loaded', 300, 290, 6, 4, NULL),
          ('northshire/a-copy.csv', 'aa', 'northshire', 'duplicate', 0, 0, 0, 0, 'same bytes'),
          ('eastmoor/b.xlsx', 'bb', 'eastmoor', 'loaded', 200, 195, 5, 0, NULL),
          ('riverton_la/c.csv', 'cc', 'riverton_la', 'rejected', 0, 0, 0, 0, 'no header');
    """)
    reasons = [
        f"date_parses: reported_at '{RAW_VALUE}' is not a date",
        "required: person_ref is blank",
        "required: person_ref is blank; required: date_of_birth is blank",
    ]
    con.executemany(
        "INSERT INTO quarantine VALUES (?, 'northshire/a.csv', ?, ?)",
        [("northshire", i, reasons[i % 3]) for i in range(11)],
    )
    con.execute("""
        INSERT INTO findings VALUES
          ('574', 'error', 'riverton_la', 'c.csv', 3, 'R1', 'overlaps'),
          ('stale_open', 'warning', 'northshire', 'a.csv', 9, 'R2', 'open for 40 days');
        INSERT INTO runs VALUES
          ('r1', '2026-11-01 02:00', '2026-11-01 02:05', 'published', '2026-11-01'),
          ('r2', '2026-11-02 02:00', '2026-11-02 02:04', 'published', '2026-11-02');
        INSERT INTO build_manifest VALUES ('full', '2026-11-02');
    """)
    con.close()
    return path


def _row(text: str, label: str) -> list[str]:
    """The three values printed after ``label`` on page 1 (one line per table row)."""
    row = re.compile(rf"^\s*{re.escape(label)}.*?\s(\S+)\s+(\S+)\s+(\S+)\s*$")
    return next(list(m.groups()) for line in text.splitlines() if (m := row.match(line)))


def _count(n: int) -> str:
    return "c" if 1 <= n <= 4 else f"{n:,}"


def _percent(num: int, den: int) -> str:
    if den == 0:
        return "z"
    if any(1 <= n <= 4 for n in (num, den, den - num)):
        return "c"
    return f"{int(num * 100 / den + 0.5)}%"


@pytest.fixture(scope="module")
def briefing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("briefing")
    db = build_fixture(root / "curated.duckdb")
    return db, write_briefing(db, MONTH, root / "out", today=TODAY)


def _text(pdf: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(pdf).pages]


def test_six_pages_with_the_month_on_page_one(briefing: tuple[Path, Path]) -> None:
    _, pdf = briefing
    assert pdf.name == f"whereabouts-briefing-{MONTH}.pdf"
    reader = PdfReader(pdf)
    assert len(reader.pages) == 6
    assert reader.metadata.title == f"Missing and absent children: briefing for {MONTH}"
    assert "October 2026" in _text(pdf)[0] and MONTH in _text(pdf)[0]


def test_headline_numbers_match_the_database(briefing: tuple[Path, Path]) -> None:
    db, pdf = briefing
    con = duckdb.connect(str(db), read_only=True)
    figures = con.sql("""
        WITH m(month) AS (VALUES ('2026-10'), ('2026-09'), ('2025-10')),
        e AS (SELECT *, strftime(reported_at, '%Y-%m') AS month FROM episodes),
        cohort AS (SELECT child_id, min(entered_at) AS entered FROM repeat_missing
                   WHERE definition = '3_in_90_days' GROUP BY child_id)
        SELECT m.month, count(e.episode_id) AS episodes, count(DISTINCT e.child_id) AS children,
               count(e.episode_id) FILTER (WHERE category = 'missing') AS missing,
               count(DISTINCT e.child_id) FILTER (
                   WHERE cohort.entered < strptime(m.month, '%Y-%m') + INTERVAL 1 MONTH
               ) AS cohort,
               count(e.episode_id) FILTER (WHERE found_within_24h) AS found,
               count(found_within_24h) AS ended,
               any_value(r.rhi_offered_within_72h) AS rhi, any_value(r.returns) AS returns
        FROM m LEFT JOIN e USING (month) LEFT JOIN cohort USING (child_id)
        LEFT JOIN rhi_compliance r ON r.month = m.month
        GROUP BY m.month ORDER BY m.month DESC
    """).fetchall()
    away, undetermined = con.sql(
        "SELECT count(*) FILTER (WHERE category = 'away'), "
        "count(*) FILTER (WHERE category = 'undetermined') FROM episodes "
        "WHERE strftime(reported_at, '%Y-%m') = ?",
        params=[MONTH],
    ).fetchall()[0]
    con.close()
    names = ["episodes", "children", "missing", "cohort", "found", "ended", "rhi", "returns"]
    column = dict(zip(names, zip(*[rest for _, *rest in figures], strict=True), strict=True))
    page = _text(pdf)[0]
    assert _row(page, "Episodes reported") == [_count(n) for n in column["episodes"]]
    assert _row(page, "Children reported") == [_count(n) for n in column["children"]]
    assert _row(page, "Missing") == [_count(n) for n in column["missing"]]
    assert _row(page, "Children in the 3-in-90-days cohort") == [
        _count(n) for n in column["cohort"]
    ]
    found = [_percent(f, e) for f, e in zip(column["found"], column["ended"], strict=True)]
    assert _row(page, "% found within 24 hours") == found
    rhi = [_percent(o, r) for o, r in zip(column["rhi"], column["returns"], strict=True)]
    assert _row(page, "% of returns offered an RHI") == rhi
    # Two away episodes are a small cell; undetermined (the smallest other) must go with it,
    # or it could be worked out as episodes minus the categories shown.
    assert (away, undetermined) == (2, 6)
    assert _row(page, "Away from placement")[0] == "c"
    assert _row(page, "Undetermined")[0] == "c"
    assert _row(page, "Absent")[0] == "9"


def test_the_same_data_gives_the_same_bytes(briefing: tuple[Path, Path], tmp_path: Path) -> None:
    db, pdf = briefing
    again = write_briefing(db, MONTH, tmp_path, today=TODAY)
    assert again.read_bytes() == pdf.read_bytes()
    assert not [page for page in _text(pdf) if "PROVISIONAL" in page.upper()]


def test_nothing_about_a_child_is_printed(briefing: tuple[Path, Path]) -> None:
    db, pdf = briefing
    text = "\n".join(_text(pdf))
    con = duckdb.connect(str(db), read_only=True)
    ids = [r[0] for r in con.sql("SELECT DISTINCT child_id FROM episodes").fetchall()]
    refs = [r[0] for r in con.sql("SELECT episode_ref FROM episodes").fetchall()]
    births = [r[0] for r in con.sql("SELECT DISTINCT birth_month FROM episodes").fetchall()]
    con.close()
    assert ids and not [i for i in ids if i in text]
    assert not [r for r in refs if r in text]
    assert not [b for b in births if b in text]
    assert RAW_VALUE not in text  # quarantine reasons are shown by check and column only
    assert "required: person_ref" in text


def test_a_month_with_no_episodes_is_refused(briefing: tuple[Path, Path], tmp_path: Path) -> None:
    db, _ = briefing
    with pytest.raises(UsageError) as refused:
        write_briefing(db, "2025-08", tmp_path, today=TODAY)
    assert str(refused.value) == "no episodes reported in 2025-08: there is nothing to brief on"
    assert not list(tmp_path.glob("*.pdf*"))


def test_a_month_not_over_is_refused(briefing: tuple[Path, Path], tmp_path: Path) -> None:
    db, _ = briefing
    partial = "a briefing now would be partial; use --allow-partial for a provisional one"
    # Not over by today's date.
    with pytest.raises(UsageError) as refused:
        write_briefing(db, MONTH, tmp_path, today=date(2026, 10, 31))
    assert str(refused.value) == (
        f"2026-10 is not over (today 2026-10-31, data as of 2026-11-02): {partial}"
    )
    # Over by today's date, but the data runs only to 2 November.
    with pytest.raises(UsageError) as refused:
        write_briefing(db, "2026-11", tmp_path, today=date(2026, 12, 6))
    assert str(refused.value) == (
        f"2026-11 is not over (today 2026-12-06, data as of 2026-11-02): {partial}"
    )
    assert not list(tmp_path.glob("*.pdf*"))


def test_a_partial_month_is_provisional_on_every_page(
    briefing: tuple[Path, Path], tmp_path: Path
) -> None:
    db, _ = briefing
    pdf = write_briefing(db, MONTH, tmp_path, today=date(2026, 10, 20), allow_partial=True)
    pages = _text(pdf)
    assert len(pages) == 6
    assert PROVISIONAL == "PROVISIONAL: the month is not over"
    assert all(PROVISIONAL in page for page in pages)
    again = write_briefing(
        db, MONTH, tmp_path / "again", today=date(2026, 10, 20), allow_partial=True
    )
    assert again.read_bytes() == pdf.read_bytes()
    # A month with no episodes stays refused, partial or not.
    with pytest.raises(UsageError, match="no episodes reported in 2026-11"):
        write_briefing(db, "2026-11", tmp_path, today=date(2026, 12, 6), allow_partial=True)


def test_a_bad_month_is_refused(briefing: tuple[Path, Path], tmp_path: Path) -> None:
    db, _ = briefing
    with pytest.raises(ValueError, match="YYYY-MM"):
        write_briefing(db, "2026-13", tmp_path, today=TODAY)
    with pytest.raises(FileNotFoundError):
        write_briefing(tmp_path / "nowhere.duckdb", MONTH, tmp_path, today=TODAY)
