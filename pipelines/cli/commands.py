"""What each `whereabouts` command does, given its parsed arguments."""

from __future__ import annotations

import argparse
import contextlib
import signal
import time
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pipelines import settings
from pipelines.errors import MissingInput, NotFound, WhereaboutsError
from pipelines.sources.declarations import load_sources

if TYPE_CHECKING:
    from pipelines.orchestration.nightly import RunSummary


class RunFailed(WhereaboutsError, RuntimeError):
    """The nightly run did not publish; the message is the one-line reason."""


# Exit status of a nightly that published but left something to look at: files rejected or
# held, or a source that delivered on an earlier run and sent nothing new (RunSummary.attention).
# Known failures exit 1; argparse's usage errors exit 2.
EXIT_ATTENTION = 3


def run_nightly(plain: bool = False, **options: Any) -> RunSummary:
    """Run the nightly, as a Prefect flow or (`plain`) as plain calls; a failed run raises
    RunFailed with its one-line reason."""
    # A bad declaration is the commonest operator error: say so before Prefect starts.
    load_sources(options.get("sources_dir", settings.SOURCES_DIR))
    if plain:
        from pipelines.orchestration.nightly import PLAIN, run

        summary = run(PLAIN, **options)
        if summary.status != "published":
            raise RunFailed(summary.message or "the nightly run failed")
        return summary
    from pipelines.orchestration.flows import nightly as nightly_flow

    state = nightly_flow(**options, return_state=True)
    if not state.is_completed():
        raise RunFailed(state.message or "the nightly run failed")
    # A completed state's result is what the flow returned: the run's summary.
    return cast("RunSummary", state.result())


def nightly_command(args: argparse.Namespace) -> int:
    summary = run_nightly(
        raw_dir=args.raw,
        sources_dir=args.sources,
        db=args.db,
        work_db=args.work_db,
        as_of=args.as_of,
        validation_dir=args.reports,
        full_rebuild=args.full_rebuild,
        force=args.force,
        identity_db=args.identity_db,
        truth=args.truth,
        plain=getattr(args, "plain", False),
    )
    summary.seconds = time.monotonic() - args.started  # what the user waited, imports and all
    print("\n".join(summary.lines()))
    return EXIT_ATTENTION if summary.attention else 0


def briefing_command(args: argparse.Namespace) -> int:
    # By hand the briefing is one function, not a Prefect flow: no temporary server to start
    # (about 8 s on 2 cores). Under `serve` the monthly-briefing deployment runs it as a flow.
    from pipelines.briefing import write_briefing

    path = write_briefing(args.db, args.month, args.out, allow_partial=args.allow_partial)
    print(f"briefing for {args.month}: {path}")
    return 0


def synth_command(args: argparse.Namespace) -> int:
    from pipelines.synth import generate
    from pipelines.synth.council_files import TRUTH_FILE

    only = [s.strip() for s in args.only.split(",")] if args.only else None
    manifest = generate(args.out, seed=args.seed, scale=args.scale, until=args.until, sources=only)
    for name, source in sorted(manifest["sources"].items()):
        rows = sum(f["rows"] for f in source["files"].values())
        print(f"{name}: {len(source['files'])} files, {rows} rows, {source['episodes']} episodes")
    print(f"manifest: {args.out / 'synth_manifest.json'}")
    print(f"truth: {args.out.parent / TRUTH_FILE} (for linkage quality only, never loaded)")
    return 0


def demo_command(args: argparse.Namespace) -> int:
    # Imported here: the briefing package loads pandas and matplotlib, which a command's
    # one-line refusal should not wait for.
    from pipelines.briefing import write_briefing
    from pipelines.briefing.months import previous_month
    from pipelines.synth.council_files import TRUTH_FILE

    raw = settings.RAW_DIR
    today = date.today()
    month = previous_month(today)
    if not any(p.is_dir() for p in raw.glob("*")):
        from pipelines.synth import generate

        print(f"writing synthetic extracts to {raw} ...")
        generate(raw, seed=42, scale=1.0, until=month)
    # The demo's data is synthetic: its truth file shows how well the agencies were linked.
    truth = raw.parent / TRUTH_FILE
    plain = getattr(args, "plain", False)
    summary = run_nightly(
        as_of=today,
        identity_db=args.identity_db,
        truth=truth if truth.is_file() else None,
        plain=plain,
    )
    summary.seconds = time.monotonic() - args.started
    print("\n".join(summary.lines()))
    if plain:
        path = write_briefing(settings.CURATED_DB, month, settings.BRIEFINGS_DIR)
    else:
        from pipelines.orchestration.flows import briefing as briefing_flow

        path = briefing_flow(month=month)
    print(f"  briefing for {month}: {path}")
    _print_headlines(settings.CURATED_DB)
    return EXIT_ATTENTION if summary.attention else 0


def _print_headlines(db: Path) -> None:
    from pipelines.db import connect, one_row

    con = connect(db, read_only=True)
    try:
        rows = con.execute(
            "select category, count(*) from episodes group by 1 order by 2 desc"
        ).fetchall()
        at_risk = one_row(con, "select count(*) from at_risk_children")[0]
        cohort = one_row(
            con, "select count(*) from repeat_missing where definition = '3_in_90_days'"
        )[0]
    finally:
        con.close()
    print("  episodes by category: " + ", ".join(f"{c} {n}" for c, n in rows))
    print(f"  children in the 3-in-90-days cohort (ever): {cohort}")
    print(f"  children on the at-risk list today: {at_risk}")


def serve_command(args: argparse.Namespace) -> int:
    from pipelines.orchestration.schedules import serve as serve_schedules

    # Ctrl-C or SIGTERM is how serve is meant to end, whichever step it interrupts
    # (one CI run in about ten saw an interrupt escape Prefect's own shutdown).
    try:
        with contextlib.suppress(KeyboardInterrupt):
            serve_schedules(args.port)
    finally:
        # Stopping now: a further interrupt (Prefect's runner signals its own process as it
        # shuts down, and under load that can land after its handler is gone) must not turn
        # a clean stop into death by SIGINT.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return 0


def export_command(args: argparse.Namespace) -> int:
    from pipelines.warehouse.export import export_tables

    for path in export_tables(args.db, args.out, args.format):
        print(path)
    return 0


def lookup_command(args: argparse.Namespace) -> int:
    from pipelines.db import connect
    from pipelines.identity.lookup import lookup
    from pipelines.identity.store import identity_db_for, open_identity_store

    if not args.work_db.exists():
        raise MissingInput(f"{args.work_db}: no working store")
    identity = open_identity_store(args.identity_db or identity_db_for(args.work_db))
    try:
        rows = lookup(identity, args.child_id, _who(args.by), _now())
        if rows:
            print("\n".join(_lookup_lines(rows)))
            return 0
    finally:
        identity.close()
    # Not (yet) in the identity store: the child id's own source reference.
    con = connect(args.work_db, read_only=True)
    try:
        row = con.execute(
            "select source, person_ref from person_keys where child_id = ?", [args.child_id]
        ).fetchall()
    finally:
        con.close()
    if not row:
        raise NotFound(f"no child with id {args.child_id}")
    print(f"source: {row[0][0]}\nperson_ref: {row[0][1]}")
    return 0


def at_risk_command(args: argparse.Namespace) -> int:
    from pipelines.warehouse.restricted import check_destination, export_format

    # Refused in one line before anything heavy is loaded or opened.
    export_format(args.out)
    check_destination(args.out, args.db)
    if not args.db.exists():
        raise MissingInput(f"{args.db}: no published database (run 'whereabouts nightly')")
    work_db = args.work_db or settings.work_db_for(args.db)
    import duckdb

    from pipelines.errors import busy
    from pipelines.identity.store import identity_db_for, open_identity_store

    path = args.identity_db or identity_db_for(work_db)
    if not path.exists():
        raise MissingInput(f"{path}: no identity store (run 'whereabouts nightly')")
    from pipelines.warehouse.practitioners import export_list

    sources = load_sources(args.sources) if args.as_of is not None else {}
    try:
        identity = open_identity_store(path)
    except duckdb.IOException:
        raise busy(path) from None
    try:
        exported = export_list(
            args.db, identity, args.out, args.as_of, work_db, sources, _who(args.by),
            args.purpose, _now(),
        )  # fmt: skip
    finally:
        identity.close()
    print(exported.line())
    return 0


def _lookup_lines(rows: list[tuple[str, str, str, str | None, str]]) -> list[str]:
    """A person's id and each agency's reference; a record not yet linked, as the working
    store's look-up shows it."""
    person = rows[0][3]
    if person is None:
        return [f"source: {rows[0][0]}", f"person_ref: {rows[0][2]}"]
    lines = [f"person_id: {person}"]
    lines += [f"  agency: {a}  source: {s}  person_ref: {r}" for s, a, r, _, _ in rows]
    return lines


def _who(by: str | None) -> str:
    """Who is acting: --by, else the login name."""
    import getpass

    return by or getpass.getuser()


def _now() -> datetime:
    """The local clock time, as the pipeline's other timestamps are kept."""
    return datetime.now().replace(microsecond=0)


def link_command(args: argparse.Namespace) -> int:
    from pipelines.identity.store import identity_db_for, open_identity_store

    path = args.identity_db or identity_db_for(settings.WORK_DB)
    if args.link_command == "train":
        return _link_train(args, path)
    if not path.exists():
        raise MissingInput(f"{path}: no identity store (run 'whereabouts nightly')")
    con = open_identity_store(path)
    try:
        if args.link_command == "decide":
            from pipelines.identity.review import decide

            decide(con, args.record_a, args.record_b, args.decision, _who(args.by), _now())
            print(f"recorded: {args.record_a} and {args.record_b} are {args.decision}")
        elif args.link_command == "run":
            print("\n".join(_link_run(con, args)))
        else:
            from pipelines.identity.review import export_review

            pages = export_review(con, args.out)
            print(f"{len(pages)} pairs to review in {args.out}")
    finally:
        con.close()
    return 0


def _link_run(con: Any, args: argparse.Namespace) -> list[str]:
    """Link the identity store with the saved model; the summary and, with a truth file,
    overall precision and recall."""
    from pipelines.identity.linkage import link_records
    from pipelines.identity.quality import truth_from_file
    from pipelines.ingest.pseudonym import load_key

    key = load_key(create=False)
    truth = truth_from_file(args.truth, key) if args.truth else None
    now = _now()
    summary = link_records(con, key, f"link-{now:%Y%m%dT%H%M%S}", args.model, now, truth)
    lines = summary.lines()
    if truth is not None:
        measured = con.execute(
            "select measure, value from linkage_quality where run_id = ? and breakdown = 'all' "
            "and measure in ('precision', 'recall') order by measure",
            [f"link-{now:%Y%m%dT%H%M%S}"],
        ).fetchall()
        lines += [f"  {m} of pairs: {v:.4f}" for m, v in measured if v is not None]
    return lines


def _link_train(args: argparse.Namespace, path: Path) -> int:
    from pipelines.identity.training import train_and_report

    for line in train_and_report(None if args.synthetic else path, args.out):
        print(line)
    return 0
