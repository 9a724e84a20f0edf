"""The restricted identity store: its own DuckDB file, mode 0600, beside the working store.

Every table that holds a name, a date of birth, a UPN, an NHS number or a cross-reference is
here, and only here. What leaves it is pseudonymous: `record_id` (the `child_id` of a source
and person reference) and `person_id`.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from pipelines import settings
from pipelines.db import connect, private_files
from pipelines.errors import ConfigurationError
from pipelines.ingest.pseudonym import key_fingerprint
from pipelines.ingest.working_store import LINKAGE_OUTPUT_DDL

# The identity values a source may carry: declared with the standard record, re-exported.
from pipelines.sources.record import IDENTITY_FIELDS as IDENTITY_FIELDS

DDL = (
    LINKAGE_OUTPUT_DDL
    + """
-- One row per source and person reference: the latest known identity values, normalised
-- (pipelines.identity.normalise). record_id is the child_id the rest of the pipeline knows.
create table if not exists identity_records (
    record_id varchar primary key,
    source varchar not null,
    agency varchar not null,
    person_ref varchar not null,
    forename varchar,
    surname varchar,
    date_of_birth date,
    sex varchar,
    postcode varchar,
    upn varchar,
    nhs_number varchar,
    la_child_ref varchar,
    police_ref varchar,
    first_seen_at timestamp not null,
    updated_at timestamp not null,
    updated_run varchar not null
);
-- Each raw file whose identities are stored here, written in the transaction that stores
-- them: a loaded file of the working store's ledger missing here (a run killed between the
-- two stores, or files ingested before identities were captured) is read again.
create table if not exists identity_files (
    file varchar primary key,
    sha256 varchar not null,
    captured_at timestamp not null,
    run_id varchar not null
);
-- Which person each record belongs to, and how it was linked.
create table if not exists person_links (
    record_id varchar primary key,
    person_id varchar not null,
    linked_by varchar not null,
    match_probability double,
    linked_at timestamp not null,
    run_id varchar not null,
    -- md5 of the values the model compared when this record was last scored: a record
    -- whose values differ is scored again by the next run (pipelines.identity.linkage).
    scored_values varchar
);
-- The links behind person_links: one row per pair of records and rule that joined them
-- (an exact rule such as shared_nhs_number, `model` above the upper threshold, or
-- `decision` for a reviewer's must-link), record_a < record_b.
create table if not exists record_pairs (
    record_a varchar not null,
    record_b varchar not null,
    rule varchar not null,
    match_probability double,
    match_weight double,
    run_id varchar not null,
    primary key (record_a, record_b, rule)
);
-- What the last clustering read (pipelines.identity.scope): a record whose links, keys or
-- never-link decisions differ from these is clustered again, with every record joined to it.
create table if not exists clustered_pairs (
    record_a varchar not null,
    record_b varchar not null,
    rule varchar not null,
    match_probability double
);
create table if not exists clustered_keys (
    record_id varchar not null,
    nhs_number varchar,
    upn varchar
);
create table if not exists clustered_never (
    record_a varchar not null,
    record_b varchar not null
);
-- One row per clustering: of every record (`all`), or of the records that changed and all
-- joined to them (`changed`), and how many records it clustered.
create table if not exists clustering_runs (
    run_id varchar primary key,
    scope varchar not null check (scope in ('all', 'changed')),
    records integer not null
);
-- One row per linkage run: records after `linked_at` were new or changed for the next run.
create table if not exists linkage_runs (
    run_id varchar primary key,
    linked_at timestamp not null,
    records_scored integer not null,
    model varchar not null
);
-- Reviewers' decisions on a pair of records, obeyed by every later run.
create table if not exists link_decisions (
    record_a varchar not null,
    record_b varchar not null,
    decision varchar not null check (decision in ('same', 'different')),
    decided_by varchar not null,
    decided_at timestamp not null,
    primary key (record_a, record_b)
);
-- Pairs scored between the two thresholds, waiting for a reviewer.
create table if not exists review_queue (
    record_a varchar not null,
    record_b varchar not null,
    match_probability double not null,
    match_weight double not null,
    queued_at timestamp not null,
    run_id varchar not null,
    -- splink's Bayes factor of each comparison for this pair (JSON: comparison -> level
    -- label, weight), for the review page's waterfall.
    weights varchar,
    primary key (record_a, record_b)
);
-- Every look-up of the real references behind an id.
create table if not exists lookup_audit (
    looked_up_at timestamp not null,
    looked_up_by varchar not null,
    looked_up_id varchar not null,
    purpose varchar,
    records_shown integer not null
);
-- Every export of the practitioners' list (whereabouts at-risk), written before its file
-- appears: who, when, why, the run date of the list, where it went, and what it showed.
create table if not exists export_audit (
    exported_at timestamp not null,
    exported_by varchar not null,
    purpose varchar,
    as_of date not null,
    path varchar not null,
    file_format varchar not null,
    children integer not null,
    records_shown integer not null
);
-- The pseudonymisation key the store's record and person ids were made with (its
-- fingerprint: an HMAC of a fixed label, never the key).
create table if not exists store_key (
    key_fingerprint varchar not null
);
"""
)


def identity_db_for(work_db: Path) -> Path:
    """The identity store beside a working store: `<work stem>` with `-work` swapped for
    `-identity` (data/work/whereabouts-work.duckdb has data/work/whereabouts-identity.duckdb)."""
    stem = work_db.stem.removesuffix("-work")
    return work_db.with_name(f"{stem}-identity.duckdb")


def open_identity_store(
    path: Path, read_only: bool = False, key: bytes | None = None
) -> duckdb.DuckDBPyConnection:
    """The identity store, created (mode 0600) with its tables if it does not exist. With
    `key`, the store is first checked to be one that key made (check_key)."""
    if read_only:
        return connect(path, read_only=True)
    with private_files():
        con = connect(path)
        try:
            con.execute(DDL)
            if key is not None:
                check_key(con, path, key)
        except BaseException:
            con.close()
            raise
    os.chmod(path, 0o600)
    return con


def check_key(con: duckdb.DuckDBPyConnection, path: Path, key: bytes) -> None:
    """Refuse a key other than the one the store's ids were made with; the first key a store
    meets is recorded as its own. Another key would give every record another id, and every
    person a second id."""
    fingerprint = key_fingerprint(key)
    recorded = con.execute("select any_value(key_fingerprint) from store_key").fetchall()[0][0]
    if recorded is None:
        con.execute("insert into store_key values (?)", [fingerprint])
    elif recorded != fingerprint:
        raise ConfigurationError(
            f"{path}: the identity store was built with another pseudonymisation key "
            f"(fingerprint {recorded[:12]}, this key's {fingerprint[:12]}); restore that key "
            f"file, or point {settings.KEY_FILE_ENV} at it"
        )
