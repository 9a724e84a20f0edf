"""The private working store: ledger, every episode version, quarantine, findings, pseudonyms.

Only the nightly job opens it for writing. Analysts never see it: it holds raw values of
quarantined rows and the person references behind child ids.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from pipelines.db import connect, private_files
from pipelines.errors import ConfigurationError, UsageError
from pipelines.ingest.pseudonym import KeyFile, child_id
from pipelines.settings import KEY_FILE_ENV
from pipelines.sources.record import FIELD_TYPES

# An episode version keeps the standard record's fields, except that the person reference is
# replaced by the keyed child id and the category is what the source recorded (the comparable
# category is the warehouse's to decide).
_VERSION_KEYS = {
    "source": "varchar not null",
    "file": "varchar not null",
    "row_number": "bigint not null",
    "ingest_seq": "bigint not null",
    "episode_ref": "varchar not null",
    "child_id": "varchar not null",
}
_RENAMED = {"category": "recorded_category"}
EPISODE_VERSION_TYPES: dict[str, str] = _VERSION_KEYS | {
    _RENAMED.get(field, field): kind.lower() + (" not null" if field == "reported_at" else "")
    for field, kind in FIELD_TYPES.items()
    if field not in ("episode_ref", "person_ref")
}
EPISODE_COLUMNS = list(EPISODE_VERSION_TYPES)

# What the identity stage publishes, pseudonymous on every column: kept in the identity store,
# and copied whole each night to the working store, where the build reads it.
LINKAGE_OUTPUT_DDL = """
-- Every merge and split of persons: when, which ids, why.
create table if not exists person_changes (
    changed_at timestamp not null,
    run_id varchar not null,
    change varchar not null,
    person_id varchar not null,
    other_person_id varchar,
    record_id varchar,
    reason varchar not null
);
-- One row per run and measure (records, persons, links by rule, review backlog, and with a
-- truth file, precision and recall by source pair, sex and age band).
create table if not exists linkage_quality (
    run_id varchar not null,
    measured_at timestamp not null,
    measure varchar not null,
    breakdown varchar not null,
    value double
);
"""

SCHEMA = (
    LINKAGE_OUTPUT_DDL
    + """
create table if not exists ingest_files (
    file varchar primary key,      -- <source>/<file name>, relative to the raw folder
    sha256 varchar not null,
    source varchar not null,
    fingerprint varchar,           -- the source declaration it was read with
    size bigint,
    mtime double,
    status varchar not null,       -- loaded / duplicate / rejected / held
    rows_read bigint not null,
    rows_loaded bigint not null,
    rows_quarantined bigint not null,
    rows_out_of_scope bigint not null,
    message varchar,
    ingest_seq bigint not null,    -- arrival order: later files supersede earlier ones
    run_id varchar,
    ingested_at timestamp
);
{episode_versions}
create table if not exists quarantine (
    source varchar not null,
    file varchar not null,
    row_number bigint not null,
    reasons varchar not null,
    raw_values varchar              -- the mapped row as read (private; never published)
);
create table if not exists findings (
    rule varchar not null,
    severity varchar not null,
    source varchar not null,
    file varchar,
    row_number bigint,
    episode_ref varchar,
    message varchar not null
);
-- A cme file's spells off roll (pipelines.ingest.cme), one row per loaded file row; the
-- child's names and identifiers went to the identity store.
create table if not exists cme_rows (
    source varchar not null,
    file varchar not null,
    row_number bigint not null,
    ingest_seq bigint not null,
    child_id varchar not null,
    off_roll_on date not null,
    reason varchar,
    resolved_on date
);
create table if not exists person_keys (
    child_id varchar not null,     -- one row each, kept so by writer.FileStore (no key index)
    source varchar not null,
    person_ref varchar not null
);
-- The person each child id was linked to (pipelines.identity): pseudonymous on both sides,
-- replaced whole by each run's linkage; the names behind it stay in the identity store.
create table if not exists person_ids (
    child_id varchar primary key,
    person_id varchar not null,
    linked_by varchar not null     -- the rule that last joined the record to its person
);
create table if not exists store_identity (
    store_id varchar not null,      -- random, made when the store is created
    created_at timestamp not null
);
-- Added later: a store made before them gains them on its next open.
alter table store_identity add column if not exists key_fingerprint varchar; -- key_fingerprint()
alter table store_identity add column if not exists raw_dir varchar;  -- resolved raw folder
create table if not exists runs (
    run_id varchar primary key,
    started_at timestamp not null,
    finished_at timestamp,
    status varchar not null,        -- running / published / failed / killed
    as_of date,
    files_new bigint,
    rows_read bigint,
    rows_loaded bigint,
    rows_quarantined bigint,
    rows_out_of_scope bigint,
    episodes bigint,
    children bigint,
    seconds double,
    message varchar
);
""".replace(
        "{episode_versions}",
        "create table if not exists episode_versions (\n"
        + ",\n".join(f"    {name} {kind}" for name, kind in EPISODE_VERSION_TYPES.items())
        + "\n);",
    )
)


def wal_path(path: Path) -> Path:
    """A DuckDB file's write-ahead log, beside it."""
    return path.with_name(path.name + ".wal")


def open_work(path: Path, key: KeyFile | None = None, **config: str) -> duckdb.DuckDBPyConnection:
    """The working store, its tables created on first use (plus any `config`). With `key`,
    the store is first checked to be one that key made (check_key).

    The store and its write-ahead log (0600) are its owner's alone, and so is its folder
    when it is made here (0700; an existing folder is left as it is). A caller that writes
    to the store does so inside db.private_files(): DuckDB makes the log again after every
    checkpoint, with the umask of the moment.
    """
    with private_files():
        return _open_work(path, key, **config)


def _open_work(path: Path, key: KeyFile | None, **config: str) -> duckdb.DuckDBPyConnection:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    con = connect(path, read_only=False, **config)
    try:
        _prepare(con, path, key)
    except BaseException:
        con.close()
        raise
    return con


def _prepare(con: duckdb.DuckDBPyConnection, path: Path, key: KeyFile | None) -> None:
    con.execute(SCHEMA)
    # A published database records which store, and which files of it, it was built from:
    # a new store, or a number given out twice, must never pass for "nothing changed".
    con.execute(
        "insert into store_identity (store_id, created_at) "
        "select uuid()::varchar, now()::timestamp where not exists (from store_identity)"
    )
    _unkey_person_keys(con)
    remove_unledgered_versions(con)  # a process that died mid-file left them
    (numbered,) = con.execute(
        "select count(*) from duckdb_sequences() where sequence_name = 'ingest_seq_numbers'"
    ).fetchall()[0]
    if not numbered:
        (start,) = con.execute(
            "select coalesce(max(ingest_seq), 0) + 1 from ingest_files"
        ).fetchall()[0]
        con.execute(f"create sequence ingest_seq_numbers start with {start}")
    # Made before these rules (or by another umask): private now, whatever they were.
    for private in (path, wal_path(path)):
        if private.exists():
            private.chmod(0o600)
    if key is not None:
        check_key(con, path, key)


def check_key(con: duckdb.DuckDBPyConnection, path: Path, key: KeyFile) -> None:
    """Refuse a key other than the one the store was built with; the first key a store meets
    is recorded as its own (by fingerprint: an HMAC of a fixed label, never the key).

    Another key gives every child another child_id: the store's people would split in two.
    """
    rows = con.execute("select any_value(key_fingerprint) from store_identity").fetchall()
    recorded = rows[0][0]
    if recorded is None:
        # A store made before fingerprints were kept: one of its people tells its key.
        person = con.execute("select child_id, source, person_ref from person_keys limit 1")
        known = person.fetchall()
        if known and child_id(key.key, known[0][1], known[0][2]) != known[0][0]:
            recorded = "a different key"
        else:
            con.execute("update store_identity set key_fingerprint = ?", [key.fingerprint])
            return
    if recorded != key.fingerprint:
        raise ConfigurationError(
            f"{key.path}: not the pseudonymisation key the working store {path} was built with "
            f"(fingerprint {key.fingerprint[:12]}, the store's {recorded[:12]}); restore that "
            f"key file, or point {KEY_FILE_ENV} at it"
        )


def claim_raw_dir(
    con: duckdb.DuckDBPyConnection, path: Path, raw_dir: Path, force: bool = False
) -> None:
    """Record the raw folder a store ingests (resolved); refuse another unless `force`.

    The ledger is keyed by <source>/<file name>: files of another folder under the same
    names would pass for ones already read, and its other files would join this history.
    """
    folder = str(raw_dir.resolve())
    (recorded,) = con.execute("select any_value(raw_dir) from store_identity").fetchall()[0]
    if recorded is not None and recorded != folder and not force:
        raise UsageError(
            f"the working store {path} ingests the raw folder {recorded}, not {folder}; "
            "pass --force to make it ingest this one from now on"
        )
    if recorded != folder:
        con.execute("update store_identity set raw_dir = ?", [folder])


def _unkey_person_keys(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild a store's person_keys made with a primary key, which DuckDB cannot drop.

    The key's index held every child ever seen in memory and took 4.8 s to insert 1.9 million
    children into (docs/scaling.md); an insert that skips children already there does the
    same job in 1.9 s.
    """
    (keyed,) = con.execute(
        "select count(*) from duckdb_constraints() "
        "where table_name = 'person_keys' and constraint_type = 'PRIMARY KEY'"
    ).fetchall()[0]
    if keyed:
        con.execute("begin transaction")
        con.execute("alter table person_keys rename to person_keys_keyed")
        con.execute(SCHEMA)  # creates person_keys as declared now, the rest exist already
        con.execute("insert into person_keys by name from person_keys_keyed")
        con.execute("drop table person_keys_keyed")
        con.execute("commit")


def insert_frame(
    con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, or_ignore: bool = False
) -> None:
    """Append a DataFrame's rows to a table, matching columns by name."""
    if frame.empty:
        return
    # As Arrow, DuckDB reads the rows without holding Python's lock, so storing on its own
    # thread overlaps the checking of the next rows (pipelines.ingest.writer); as pandas it did not.
    con.register("incoming_frame", pa.Table.from_pandas(frame, preserve_index=False))
    columns = ", ".join(frame.columns)
    verb = "insert or ignore" if or_ignore else "insert"
    con.execute(f"{verb} into {table} ({columns}) select {columns} from incoming_frame")
    con.unregister("incoming_frame")


def next_ingest_seq(con: duckdb.DuckDBPyConnection) -> int:
    """The next number in arrival order: never one given out before, even to a file since
    forgotten (a sequence, not max + 1)."""
    # fetchall: DuckDB 2 refuses to register a frame while a result is left unfinished.
    return con.execute("select nextval('ingest_seq_numbers')").fetchall()[0][0]


def remove_unledgered_versions(con: duckdb.DuckDBPyConnection) -> None:
    """Remove episode versions that no ledger row names: those of a file abandoned part way,
    or of one whose process died before its transaction (writer.FileStore)."""
    con.execute(
        "delete from episode_versions where ingest_seq not in (select ingest_seq from ingest_files)"
    )


def forget_files(
    con: duckdb.DuckDBPyConnection, files: list[str], staged_seq: int | None = None
) -> None:
    """Remove everything a set of files contributed, so they can be ingested again; but not
    episode versions already stored under `staged_seq`, the number of their new bytes."""
    if not files:
        return
    staged = staged_seq is not None
    for table in ("episode_versions", "cme_rows", "quarantine", "findings", "ingest_files"):
        newer = " and ingest_seq <> ?" if table == "episode_versions" and staged else ""
        con.execute(
            f"delete from {table} where file in (select unnest(?)){newer}",
            [files, staged_seq] if newer else [files],
        )


def replace_linkage_output(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> None:
    """Replace the identity stage's pseudonymous output whole (person_ids, person_changes,
    linkage_quality: each table's rows by column name), in one transaction."""
    con.execute("begin transaction")
    try:
        for name, rows in tables.items():
            con.register("incoming_linkage_rows", rows)
            if name == "person_ids":
                # Only the rows that differ: rewriting 500,000 keys of its primary key
                # index each night took most of the nightly's linkage time. The table
                # still ends equal to `rows`.
                con.execute(
                    """
                    delete from person_ids p where not exists (
                        select 1 from incoming_linkage_rows i
                        where i.child_id = p.child_id and i.person_id = p.person_id
                          and i.linked_by = p.linked_by)
                    """
                )
                con.execute(
                    """
                    insert into person_ids by name
                    select * from incoming_linkage_rows i
                    where not exists (select 1 from person_ids p where p.child_id = i.child_id)
                    """
                )
            else:
                con.execute(f"delete from {name}")
                con.execute(f"insert into {name} by name select * from incoming_linkage_rows")
            con.unregister("incoming_linkage_rows")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
