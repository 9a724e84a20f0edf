"""The monthly briefing PDF, written from a small curated database built here with SQL."""

from __future__ import annotations

import random
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import assert_unrecoverable
from pypdf import PdfReader

from pipelines.briefing import PROVISIONAL, agencies, headline, labels, pdf, write_briefing
from pipelines.briefing import suppression as suppression_module
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

# The multi-agency tables. Children are persons across sources (riverton_la, whose episodes
# are SSDA903's, is the council's children's social care); child ids ending in 0 are not
# linked yet.
ACROSS_AGENCIES = """
UPDATE episodes SET rule = 'ssda903_recorded' WHERE source = 'riverton_la';
ALTER TABLE episodes ADD COLUMN person_id VARCHAR;
UPDATE episodes SET person_id = 'person-' || right(child_id, 8) WHERE right(child_id, 1) <> '0';
CREATE TABLE cme_episodes (
    cme_episode_id VARCHAR, source VARCHAR, child_id VARCHAR, person_id VARCHAR,
    off_roll_on DATE, reason VARCHAR, resolved_on DATE, days_off_roll BIGINT, is_open BOOLEAN
);
INSERT INTO cme_episodes
SELECT 'riverton_cme:cme-' || n || ':' || off, 'riverton_cme', 'cme-' || n, p.person_id,
       off::DATE, 'not registered at any school', resolved::DATE, 0, resolved IS NULL
FROM (
    SELECT person_id, row_number() OVER (ORDER BY person_id) AS n
    FROM (SELECT DISTINCT person_id FROM episodes WHERE person_id IS NOT NULL)
) p
JOIN (VALUES
    (1, '2026-10-02', NULL), (2, '2026-10-05', '2026-10-20'), (3, '2026-10-09', NULL),
    (4, '2026-10-12', NULL), (5, '2026-10-30', NULL), (6, '2026-10-31', NULL),
    (7, '2026-02-02', '2026-10-07'), (8, '2026-03-02', '2026-11-01'), (9, '2026-04-02', NULL),
    (10, '2025-12-01', '2026-01-15'), (11, '2026-05-20', '2026-06-15'),
    (12, '2026-06-01', '2026-06-30'), (13, '2026-07-07', '2026-08-01'),
    (14, '2025-10-31', '2025-11-20'), (15, '2024-09-01', NULL), (16, '2026-11-01', NULL)
) s(n, off, resolved) USING (n);
CREATE TABLE agency_reconciliation (
    gap_id VARCHAR, kind VARCHAR, month VARCHAR, person_id VARCHAR, council_episode_id VARCHAR,
    police_episode_id VARCHAR, started_at TIMESTAMP, hours_apart DOUBLE, explanation VARCHAR
);
-- Gaps each month from 2025-09: council ones 6 and up, police ones 5 or 6, and children
-- unknown to the council 8 to 10, but for two small cells in October 2026.
INSERT INTO agency_reconciliation
WITH months AS (
    SELECT i, strftime(DATE '2025-09-01' + INTERVAL (i) MONTH, '%Y-%m') AS month
    FROM range(14) t(i)
), counts AS (
    SELECT month, 'council_missing_no_police_report' AS kind, 6 + i AS n FROM months
    UNION ALL SELECT month, 'police_missing_no_council_episode',
                     if(month = '2026-10', 2, 5 + i % 2) FROM months
    UNION ALL SELECT month, 'looked_after_unknown_to_council',
                     if(month = '2026-10', 1, 8 + i % 3) FROM months
)
SELECT kind || ':' || month || ':' || k, kind, month, 'person-x', NULL, NULL,
       strptime(month, '%Y-%m'), NULL, 'a gap'
FROM counts, range(n) r(k);
CREATE TABLE linkage_quality (
    run_id VARCHAR, measured_at TIMESTAMP, measure VARCHAR, breakdown VARCHAR, value DOUBLE
);
INSERT INTO linkage_quality VALUES
    ('r1', '2026-11-01 02:03', 'records', 'all', 390),
    ('r1', '2026-11-01 02:03', 'persons', 'all', 80),
    ('r2', '2026-11-02 02:03', 'records', 'all', 400),
    ('r2', '2026-11-02 02:03', 'persons', 'all', 85),
    ('r2', '2026-11-02 02:03', 'links', 'same_agency_ref', 300),
    ('r2', '2026-11-02 02:03', 'links', 'la_child_ref', 12),
    ('r2', '2026-11-02 02:03', 'links', 'police_ref', 6),
    ('r2', '2026-11-02 02:03', 'links', 'model', 20),
    ('r2', '2026-11-02 02:03', 'links', 'decision', 2),
    ('r2', '2026-11-02 02:03', 'review_backlog', 'all', 3),
    ('r2', '2026-11-02 02:03', 'precision', 'all', 0.99871),
    ('r2', '2026-11-02 02:03', 'recall', 'all', 0.99537),
    ('r2', '2026-11-02 02:03', 'precision', 'sex=F', 0.5);
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
    con.execute(ACROSS_AGENCIES)
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


CELL = re.compile(r"\S+% \([\d,]+ of [\d,]+\)|[+-]?\d+ pts|\S+")


def _row(text: str, label: str) -> list[str]:
    """The five values printed after ``label`` on the headline page (this month, last month,
    the same month last year, the change on each); a rate and its counts are one value."""
    rows = [
        CELL.findall(line.strip()[len(label) :])
        for line in text[text.index("Measure ") :].splitlines()
        if line.strip().startswith(label)
    ]
    return next(cells[-5:] for cells in rows if len(cells) >= 5)


def _count(n: int) -> str:
    return "c" if 1 <= n <= 4 else f"{n:,}"


def _percent(num: int, den: int, also: int = 0) -> str:
    """A rate as printed: hidden whole with any small count it rests on, else with both."""
    if den == 0:
        return "z"
    if any(1 <= n <= 4 for n in (num, den, den - num, also)):
        return "c"
    return f"{int(num * 100 / den + 0.5)}% ({num} of {den})"


def _change(now: str, then: str, unit: str = "") -> str:
    if "c" in (now, then):
        return "c"
    a, b = (int(t.split("%")[0].replace(",", "")) for t in (now, then))
    return (f"{a - b:+}" if a != b else "0") + unit


@pytest.fixture(scope="module")
def briefing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("briefing")
    db = build_fixture(root / "curated.duckdb")
    return db, write_briefing(db, MONTH, root / "out", today=TODAY)


def _text(pdf: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(pdf).pages]


def test_eight_pages_with_the_month_on_page_one(briefing: tuple[Path, Path]) -> None:
    _, pdf = briefing
    assert pdf.name == f"whereabouts-briefing-{MONTH}.pdf"
    reader = PdfReader(pdf)
    assert len(reader.pages) == 8
    headings = [re.search(r"^(\d)\. (.*)$", t, re.M) for t in _text(pdf)]
    assert [h.groups() if h else None for h in headings] == [
        (str(n), heading)
        for n, heading in enumerate(
            [
                "Key messages",
                "Headline",
                "Trends over 13 months",
                "Repeat missing",
                "Who, and when",
                "Durations, outcomes and risk",
                "Across agencies",
                "Data quality, provenance and definitions",
            ],
            start=1,
        )
    ]
    assert [f"page {n} of 8" in t for n, t in enumerate(_text(pdf), start=1)] == [True] * 8
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
    page = _text(pdf)[1]
    assert _row(page, "Episodes reported")[:3] == [_count(n) for n in column["episodes"]]
    assert _row(page, "Children reported")[:3] == [_count(n) for n in column["children"]]
    assert _row(page, "Missing")[:3] == [_count(n) for n in column["missing"]]
    assert _row(page, "Children in the 3-in-90-days cohort")[:3] == [
        _count(n) for n in column["cohort"]
    ]
    # A rate carries its numerator and denominator; the open episodes (reported less ended)
    # follow from them and the episodes printed, so a small number of them hides the rate.
    found = [
        _percent(f, e, n - e)
        for f, e, n in zip(column["found"], column["ended"], column["episodes"], strict=True)
    ]
    assert found == ["57% (16 of 28)", "c", "c"]
    assert _row(page, "Found within 24 hours")[:3] == found
    rhi = [_percent(o, r) for o, r in zip(column["rhi"], column["returns"], strict=True)]
    assert _row(page, "Returns offered an RHI within 72 hours")[:3] == rhi
    # The change on last month and on the same month last year, hidden with either figure.
    for label in ["Episodes reported", "Children reported", "   Missing", "Absent"]:
        now, last, year, on_last, on_year = _row(page, label.strip())
        assert [on_last, on_year] == [_change(now, last), _change(now, year)], label
    assert _row(page, "Episodes reported") == ["37", "28", "34", "+9", "+3"]
    assert _row(page, "Returns offered an RHI within 72 hours")[3:] == ["+6 pts", "+9 pts"]
    # Two away episodes are a small cell; undetermined (the smallest other) must go with it,
    # or it could be worked out as episodes minus the categories shown.
    assert (away, undetermined) == (2, 6)
    assert _row(page, "Away from placement")[0] == "c"
    assert _row(page, "Undetermined")[0] == "c"
    assert _row(page, "Absent")[0] == "9"


MARKING = "OFFICIAL-SENSITIVE"


def test_every_page_is_marked_in_its_header_and_footer(briefing: tuple[Path, Path]) -> None:
    _, pdf = briefing
    for page in PdfReader(pdf).pages:
        # Header and footer: the marking in bold at the top and the foot of the page, centred.
        marks: list[float] = []

        def visit(text: str, cm: list, tm: list, font: object, size: object) -> None:
            if text.strip() == MARKING:
                marks.append(tm[5])  # noqa: B023

        page.extract_text(visitor_text=visit)
        height = float(page.mediabox.height)
        assert len(marks) == 2
        assert max(marks) > height * 0.98 and min(marks) < height * 0.02
    pages = _text(pdf)
    # The fixture's sources are the demo generator's (northshire, eastmoor, riverton_la).
    assert [p.count("SYNTHETIC DATA") for p in pages] == [2] * 8


def test_the_marking_is_a_setting_and_real_data_is_not_called_synthetic(
    briefing: tuple[Path, Path], tmp_path: Path
) -> None:
    db, _ = briefing
    copy = tmp_path / "real.duckdb"
    copy.write_bytes(db.read_bytes())
    con = duckdb.connect(str(copy))
    con.execute("UPDATE ingest_files SET source = 'a_real_force'")
    con.close()
    pages = _text(write_briefing(copy, MONTH, tmp_path / "out", today=TODAY, marking="OFFICIAL"))
    assert [("OFFICIAL" in p, "SENSITIVE" in p, "SYNTHETIC" in p) for p in pages] == [
        (True, False, False)
    ] * 8
    # A build that records whether its data were synthetic is taken at its word.
    con = duckdb.connect(str(copy))
    con.execute("ALTER TABLE build_manifest ADD COLUMN synthetic_data BOOLEAN DEFAULT true")
    con.close()
    pages = _text(write_briefing(copy, MONTH, tmp_path / "again", today=TODAY))
    assert all(p.count("SYNTHETIC DATA") == 2 and p.count(MARKING) == 2 for p in pages)


def test_key_messages_come_from_the_printed_figures(briefing: tuple[Path, Path]) -> None:
    _, pdf = briefing
    page = _text(pdf)[0]
    body = " ".join(page[page.index("1. Episodes") : page.index("How these messages")].split())
    assert body == (
        "1. Episodes reported rose from 28 in September 2026 to 37 in October 2026 (+9), the "
        "largest change on last month of the headline counts. "
        "2. 37 episodes were reported in October 2026, against 34 in October 2025 (+3). "
        "3. 56% of children's returns in October 2026 were offered a return home interview "
        "within 72 hours (18 of 32), +6 points on September 2026. Statutory guidance expects "
        "every child to be offered one. "
        "4. 365 gaps between police and council records since records began, to October 2026; "
        "the most common: council recorded missing, no police report (175). "
        "5. 57% of the episodes reported in October 2026 that have ended were found within "
        "24 hours (16 of 28)."
    )
    # The cohort's new entrants this month are few (hidden), so that rule says nothing.
    assert "newly entered" not in page
    assert "How these messages are written" in page


def test_reports_with_no_time_are_shown_apart(briefing: tuple[Path, Path]) -> None:
    db, pdf = briefing
    page = _text(pdf)[4]
    assert "No time\nrecorded" in page and "not at 00:00" in page
    con = duckdb.connect(str(db), read_only=True)
    ((undated,),) = con.sql(
        "SELECT count(*) FROM episodes WHERE rule = 'ssda903_recorded' "
        "AND strftime(reported_at, '%Y-%m') = ?",
        params=[MONTH],
    ).fetchall()
    con.close()
    # The grid's total row: the six 4-hour bands, then no time recorded, then all.
    assert undated == 11
    assert "c 0 c c 8 9 11 37" in page


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
    assert "Value missing (person reference) 7" in text
    assert "required:" not in text and "date_parses" not in text


def test_no_hidden_cell_of_a_printed_table_can_be_solved_for(
    briefing: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each table of counts the briefing prints, with its totals, solved for its hidden cells
    (the demo's outcome rows and day-by-time table once gave ten of them away)."""
    db, _ = briefing
    printed: list[tuple] = []
    real = suppression_module.suppress_counts

    def noting(table, with_totals, **options):
        shown = real(table, with_totals, **options)
        # A copy: a page may add columns (shares) to the frame it is given.
        printed.append((table.copy(), with_totals, options, shown.copy()))
        return shown

    for module in (pdf, agencies, headline):
        monkeypatch.setattr(module, "suppress_counts", noting)
    write_briefing(db, MONTH, tmp_path, today=TODAY)
    with_totals = [(t, o, s) for t, w, o, s in printed if w]
    assert len(with_totals) >= 10
    hidden = 0
    for table, options, shown in with_totals:
        rows, cols = options.get("row_totals", True), options.get("column_totals", True)
        assert_unrecoverable(table.fillna(0), shown.replace("z", "0"), rows=rows, cols=cols)
        hidden += int((shown == "c").to_numpy().sum())
    assert hidden > 0  # the month is built to tempt disclosure: something is hidden


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
    assert len(pages) == 8
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


def _known_to_several(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Linked children known to more than one agency (each police force, the council's social
    care, its education service) by October's end, active in October and in its 12 months."""
    end, month_start, year_start = (
        datetime(2026, 11, 1),
        datetime(2026, 10, 1),
        datetime(2025, 11, 1),
    )
    known: dict[str, set[str]] = {}
    active: dict[str, datetime] = {}
    episodes = con.sql(
        "SELECT person_id, if(rule = 'ssda903_recorded', 'council', source), reported_at "
        "FROM episodes "
        "WHERE person_id IS NOT NULL"
    ).fetchall()
    spells = con.sql(
        "SELECT person_id, off_roll_on::TIMESTAMP, resolved_on::TIMESTAMP FROM cme_episodes "
        "WHERE person_id IS NOT NULL"
    ).fetchall()
    records = [(p, agency, at, at) for p, agency, at in episodes]
    records += [(p, "education", off, resolved or end) for p, off, resolved in spells]
    for person, agency, began, last in records:
        if began < end:
            known.setdefault(person, set()).add(agency)
            active[person] = max(active.get(person, datetime.min), min(last, end))
    several = [p for p, agencies in known.items() if len(agencies) > 1]
    return (
        sum(active[p] >= month_start for p in several),
        sum(active[p] >= year_start for p in several),
    )


def test_the_across_agencies_page_in_plain_words(briefing: tuple[Path, Path]) -> None:
    db, pdf = briefing
    pages = _text(pdf)
    page = pages[6]
    for words in [
        "7. Across agencies",
        "Children known to more than one agency",
        "Police and children's social care",
        "Two or more police forces only",
        "Children missing education (spells)",
        "Council recorded missing,\nno police report",
        "Police missing (looked after),\nno council record",
        "Police say looked after,\ncouncil does not know the child",
        "Children by episodes in 12 months",
        "Same agency's own reference",
        "Linked by a reviewer",
        "c: a count from 1 to 4",
    ]:
        assert words in page, words
    assert "Found by police" in pages[5] and "No apparent risk" in pages[5]
    assert "Derived by the pipeline" in pages[7] and "Foster care" in pages[4]
    assert "Riverton (council)" in pages[7] and "riverton_la" not in "".join(pages)
    # No code reaches any page: every one has its plain words.
    codes = [*labels.RECONCILIATION, *labels.LINK_RULES, *labels.OUTCOMES, *labels.RISK_GRADES]
    codes += [*labels.CATEGORY_BASIS, *labels.AGENCY_GROUPS]
    text = "\n".join(pages)
    assert [code for code in codes if "_" in code and code in text] == []
    # No person id either: the page is aggregate only.
    assert "person-" not in text

    con = duckdb.connect(str(db), read_only=True)
    in_month, in_year = _known_to_several(con)
    gaps = con.sql(
        "SELECT kind, count(*) FILTER (WHERE month = '2026-10'), "
        "count(*) FILTER (WHERE month BETWEEN '2025-11' AND '2026-09'), "
        "count(*) FILTER (WHERE month < '2025-11'), count(*) FROM agency_reconciliation "
        "WHERE month <= '2026-10' GROUP BY kind ORDER BY kind"
    ).fetchall()
    still_off = con.sql(
        "SELECT count(DISTINCT child_id) FROM cme_episodes WHERE off_roll_on < '2026-11-01' "
        "AND (resolved_on IS NULL OR resolved_on >= '2026-11-01')"
    ).fetchall()[0][0]
    con.close()
    totals = [line for line in page.splitlines() if line.startswith("Total ")]
    assert len(totals) == 4  # multi-agency, gaps, episode bands, links by rule
    assert (in_month, in_year) == (28, 59)
    assert totals[0] == f"Total {_count(in_month)} {_count(in_year)}"
    # Gaps by kind: the month, the 11 before, earlier and since records began. October's
    # police kinds are 2 and 1 (hidden), so each row and the month's column hide one more.
    assert gaps == [
        ("council_missing_no_police_report", 19, 143, 13, 175),
        ("looked_after_unknown_to_council", 1, 99, 17, 117),
        ("police_missing_no_council_episode", 2, 60, 11, 73),
    ]
    assert totals[1] == "Total 22 302 41 365"
    assert "Children still off a school roll\nat the end of October 2026\n8\n" in page
    assert still_off == 8
    # Resolved in October: 2 spells (hidden), so one other in its row goes too.
    assert "Resolved c c 7" in page
    gap_rows = [
        line.split() for line in page.splitlines() if re.match(r"^(no |council does).* \d+$", line)
    ]
    assert [row[-4:] for row in gap_rows] == [
        ["19", "143", "13", "175"],
        ["c", "60", "c", "73"],
        ["c", "99", "c", "117"],
    ]
    assert "Records: 400; children (persons): 85; pairs awaiting review: c." in page
    assert "precision 99.87%, recall 99.54%" in page
