"""Every setting of the pipeline, in one place, each with the reason it has its value.

The project folder (`WHEREABOUTS_PROJECT`) holds `schemas/`: source declarations, table
contracts and the classification table. Data and report paths default to the project layout
relative to the working directory; each can be overridden by the command line or by the
environment variable named beside it.
"""

from __future__ import annotations

import os
from pathlib import Path

# --- where things live -------------------------------------------------------------------
# The folder with `schemas/`: WHEREABOUTS_PROJECT, else the checkout this package runs from,
# else the working directory (an installed wheel carries no schemas of its own).
_CHECKOUT = Path(__file__).resolve().parent.parent
PROJECT_ROOT = Path(
    os.environ.get("WHEREABOUTS_PROJECT")
    or (_CHECKOUT if (_CHECKOUT / "schemas").is_dir() else Path.cwd())
)
# Raw drops, one folder per declared source; never modified by the pipeline.
RAW_DIR = Path(os.environ.get("WHEREABOUTS_RAW", "data/raw"))
# Source declarations (schemas/sources/<name>.yaml).
SOURCES_DIR = Path(os.environ.get("WHEREABOUTS_SOURCES", PROJECT_ROOT / "schemas" / "sources"))
# The published database analysts open read-only; replaced whole by each good run.
CURATED_DB = Path(os.environ.get("WHEREABOUTS_DB", "data/curated/whereabouts.duckdb"))
# The private working store: ledger, every episode version, quarantined raw rows, the
# pseudonym lookup. Only the nightly job writes it; it never leaves the machine. Each
# published database has its own, derived from its path (work_db_for), so a run with another
# --db never mixes its data with the default one's; WHEREABOUTS_WORK_DB (or --work-db) names
# one explicitly and then wins.
WORK_DB_ENV = "WHEREABOUTS_WORK_DB"


def work_db_for(db: Path) -> Path:
    """The working store of a published database, unless WHEREABOUTS_WORK_DB names one:
    `<db's folder>/../work/<db stem>-work.duckdb` when the database sits in a folder named
    `curated` (the project layout: data/curated/whereabouts.duckdb has
    data/work/whereabouts-work.duckdb), else `<db stem>-work.duckdb` beside the database."""
    configured = os.environ.get(WORK_DB_ENV)
    if configured:
        return Path(configured)
    if db.parent.name == "curated":
        return db.parent.parent / "work" / f"{db.stem}-work.duckdb"
    return db.with_name(f"{db.stem}-work.duckdb")


WORK_DB = work_db_for(CURATED_DB)
# Monthly briefing PDFs.
BRIEFINGS_DIR = Path(os.environ.get("WHEREABOUTS_BRIEFINGS", "reports/briefings"))
# One offline HTML validation report per run.
VALIDATION_DIR = Path(os.environ.get("WHEREABOUTS_VALIDATION", "reports/validation"))
# Table contracts and the classification settings.
SCHEMAS_DIR = PROJECT_ROOT / "schemas"
TABLES_DIR = SCHEMAS_DIR / "tables"
CLASSIFICATION_FILE = SCHEMAS_DIR / "classification.yml"
# The SQL models ship inside the package.
SQL_DIR = Path(__file__).resolve().parent / "warehouse" / "sql"

# --- pseudonymisation --------------------------------------------------------------------
# The HMAC key behind child_id. Kept outside the repository; created 0600 on first run.
KEY_FILE_ENV = "WHEREABOUTS_KEY_FILE"
DEFAULT_KEY_FILE = (
    Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "whereabouts" / "key"
)

# --- ingest ------------------------------------------------------------------------------
# Files still being written are dropped under one of these suffixes (or as dotfiles) and
# renamed into place when complete; the pipeline never reads them.
IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload")
# Children only: a person this old or older when reported is out of scope (counted, not kept).
AGE_OF_MAJORITY = 18
# Publish gate: a file whose quarantined share passes this is held back and the run fails.
MAX_QUARANTINE_SHARE = float(os.environ.get("WHEREABOUTS_MAX_QUARANTINE_SHARE", "0.05"))

# --- analysis ----------------------------------------------------------------------------
# The three values below are named in published columns and definitions (rhi_offered_within_72h,
# 3_in_90_days, episodes_last_90_days): the names are the documented interface analysts' queries
# use, so a different value is a change of that interface, and tests/unit/test_settings.py fails
# until the names change with it.
# Statutory guidance: a return home interview is offered within 72 hours of the return.
RHI_WITHIN_HOURS = 72
# Police trigger for a multi-agency response: 3 episodes within 90 days.
REPEAT_EPISODES = 3
REPEAT_WINDOW_DAYS = 90
# The children-most-at-risk list looks back this far from the run date.
AT_RISK_LOOKBACK_DAYS = 90
# An episode still open this many days after it was reported is taken to be one the source
# never closed, not a child still missing: it is a data-quality finding (open_too_long) for
# the source to close, and no longer puts the child at the top of the at-risk list.
OPEN_EPISODE_LIMIT_DAYS = 90
# No one this old or older on the run date is a child: the at-risk list leaves them out.
ADULT_AGE_YEARS = 18
# Agency reconciliation: a council missing episode and a police report of the same person
# are taken to be one event when they start at most this many hours apart (either way round).
# SSDA903 records a start date, not a time (read as midnight), and a report may follow the
# council's concern by hours, so a day either side; a gap only just outside is still listed.
RECONCILIATION_TOLERANCE_HOURS = 24

# --- linkage (docs/linkage.md) --------------------------------------------------------------
# The saved splink model: trained by `whereabouts link train`, reviewed and committed like
# code; the nightly only loads it.
LINKAGE_MODEL = SCHEMAS_DIR / "linkage" / "model.json"
# Forenames that are one name: a full name with its short forms and other spellings (written
# by hand from common usage; the model's "known variant" level reads it).
LINKAGE_FORENAME_VARIANTS = SCHEMAS_DIR / "linkage" / "forename_variants.csv"
# A pair scored at or above this match probability is linked without review. Chosen from
# measured precision and recall on seeded synthetic person records the model was not trained
# on (docs/linkage.md, "Thresholds"): at 0.8, 8,000 records (seed 7) linked with precision
# 0.9957 and recall 0.9908; 0.9 gave 0.9975 and 0.9872, 0.7 gave 0.9946 and 0.9914.
LINK_UPPER_PROBABILITY = float(os.environ.get("WHEREABOUTS_LINK_UPPER", "0.8"))
# A pair scored at or above this (and below the upper threshold) waits for a reviewer in the
# review queue; below it, the pair is taken to be two children. At 0.2 the queue held 84
# pairs of those 8,000 records, and deciding them by the truth raised recall to 0.9959 (0.4:
# 61 pairs, 0.9946; 0.1: 86 pairs, 0.9959).
LINK_LOWER_PROBABILITY = float(os.environ.get("WHEREABOUTS_LINK_LOWER", "0.2"))
# The namespace of person_id's keyed hash (pseudonym.keyed_hashes): a person_id can never
# equal a child_id made from the same text.
PERSON_ID_NAMESPACE = "person"

# --- schedules ---------------------------------------------------------------------------
# The partnership works to UK clock time; Prefect keeps 02:30 at 02:30 across BST changes.
SCHEDULE_TIMEZONE = "Europe/London"
# The nightly run, after forces' extracts land (documented in README and docs/operations.md).
NIGHTLY_CRON = "30 2 * * *"
# The briefing for the previous month, before the working day on the 1st.
BRIEFING_CRON = "0 6 1 * *"
# Where `serve`'s private Prefect server listens (127.0.0.1), so its UI has a fixed address;
# Prefect's own default. 0 would take any free port.
SERVE_PORT = 4200

# --- publishing about children -----------------------------------------------------------
# Official-statistics practice: counts from 1 to this are suppressed (shown as 'c').
SUPPRESS_AT_MOST = 4
# The protective marking printed in the header and footer of every briefing page (the
# Government Security Classifications: figures about identifiable groups of children are
# OFFICIAL-SENSITIVE). WHEREABOUTS_MARKING overrides it, say for an OFFICIAL summary.
BRIEFING_MARKING = os.environ.get("WHEREABOUTS_MARKING", "OFFICIAL-SENSITIVE")

# --- resources ---------------------------------------------------------------------------
# DuckDB takes 80% of RAM by default; the nightly job shares a 2-core server with analysts and
# must stay within 4 GiB in all, so DuckDB gets this much and spills the rest to disk.
DUCKDB_MEMORY_LIMIT = os.environ.get("WHEREABOUTS_DUCKDB_MEMORY", "3GB")
# While ingesting, Python holds the file being read (and two runs of it, one checked while
# the next is typed) beside DuckDB, which stores its pieces as they come: 256 MB keeps a
# 5.4M-episode full nightly under 4 GiB, and 512 MB cost 250-330 MB more for no time saved
# (docs/scaling.md).
INGEST_DUCKDB_MEMORY_LIMIT = os.environ.get("WHEREABOUTS_INGEST_DUCKDB_MEMORY", "256MB")
# While linking, splink's DuckDB work shares the process with the run's Python objects: at
# five million episodes the nightly peaked at 4.7 GiB with DuckDB's 3 GB (docs/benchmarks.md);
# the identity store's connection gets less, and spills the rest of splink's work to disk.
LINKAGE_DUCKDB_MEMORY_LIMIT = os.environ.get("WHEREABOUTS_LINKAGE_DUCKDB_MEMORY", "2GB")

# --- curated builds ----------------------------------------------------------------------
# An incremental build leaves the rows it replaced in the file (marked deleted, or in free
# space DuckDB reuses but does not wipe), so corrected values can be read from the bytes and
# the file grows until a full build rewrites it: a full build runs at least this often.
FULL_REBUILD_EVERY_DAYS = int(os.environ.get("WHEREABOUTS_FULL_REBUILD_EVERY_DAYS", "7"))

# --- database compatibility --------------------------------------------------------------
# Analysts' DuckDB CLI and BI drivers lag behind the Python package: write files they open.
STORAGE_COMPATIBILITY_VERSION = "v1.5.0"
