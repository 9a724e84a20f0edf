"""The `whereabouts` arguments: parsing and checking only; the work is in the commands."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from pipelines import settings


def _month(text: str) -> str:
    try:
        date.fromisoformat(f"{text}-01")
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a month (use YYYY-MM)") from None
    return text


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (use YYYY-MM-DD)") from None


def clock(cron: str) -> str:
    """The time of day a cron schedule runs at, as HH:MM."""
    minute, hour = cron.split()[:2]
    return f"{int(hour):02d}:{int(minute):02d}"


def _identity_db_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--identity-db",
        type=Path,
        default=None,
        help="restricted identity store: names, dates of birth, UPNs, NHS numbers (default: "
        "beside the working store, data/work/whereabouts-identity.duckdb for the default --db)",
    )


class _DefaultsShown(argparse.HelpFormatter):
    """Help that ends each option with its default, unless it has none or already says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text:
            return text
        return f"{text} (default: %(default)s)"


def _prefect_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--prefect",
        action="store_true",
        help="run as a Prefect flow even with no Prefect server configured (PREFECT_API_URL): "
        "a temporary one starts first (about 8 s), and the run is kept in Prefect's history",
    )


def _version() -> str:
    # The installed distribution's version: pyproject.toml is the one place it is written.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("whereabouts")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="whereabouts",
        description="Analytics for children reported missing or absent.",
        formatter_class=_DefaultsShown,
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    top.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of any failure, not only of unexpected ones",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="synthetic extracts (if data/raw is empty), nightly, then the latest briefing",
        description="Synthetic extracts (if the raw folder is empty), then nightly, then the "
        "briefing for the latest complete month; prints where everything is.",
    )
    _identity_db_option(demo)
    _prefect_option(demo)

    nightly = commands.add_parser(
        "nightly",
        help="ingest new files, classify, validate, build and publish the curated database",
        description="Ingest new files, classify, validate, build and publish the curated "
        "database. Exits 1 with a one-line reason when nothing was published, and 3 when it "
        "published but a file was rejected or held, or a source that delivered before sent "
        "nothing new (the summary lists them).",
    )
    nightly.add_argument("--raw", type=Path, default=settings.RAW_DIR, help="raw folder")
    nightly.add_argument(
        "--sources", type=Path, default=settings.SOURCES_DIR, help="source declarations"
    )
    nightly.add_argument("--db", type=Path, default=settings.CURATED_DB, help="published database")
    nightly.add_argument(
        "--work-db",
        type=Path,
        default=None,
        help="private working store (default: the --db's own, data/work/whereabouts-work.duckdb "
        "for the default --db; WHEREABOUTS_WORK_DB)",
    )
    _identity_db_option(nightly)
    _prefect_option(nightly)
    nightly.add_argument(
        "--truth",
        type=Path,
        default=None,
        help="synthetic data's truth file (whereabouts synth writes it): adds linkage precision "
        "and recall to the run; never give it real data's",
    )
    nightly.add_argument(
        "--as-of", type=_date, default=None, help="run date for as-of figures (default today)"
    )
    nightly.add_argument(
        "--reports", type=Path, default=settings.VALIDATION_DIR, help="validation reports folder"
    )
    nightly.add_argument(
        "--full-rebuild",
        action="store_true",
        help="rebuild every curated table from all history, even when only new files arrived",
    )
    nightly.add_argument(
        "--force",
        action="store_true",
        help="let the working store ingest a raw folder other than the one it was made from",
    )

    brief = commands.add_parser(
        "briefing",
        help="the monthly briefing PDF",
        description="Write the monthly briefing PDF for a month from the published database.",
    )
    brief.add_argument("--month", type=_month, required=True, help="YYYY-MM")
    brief.add_argument("--db", type=Path, default=settings.CURATED_DB, help="published database")
    brief.add_argument("--out", type=Path, default=settings.BRIEFINGS_DIR, help="output folder")
    brief.add_argument(
        "--allow-partial",
        action="store_true",
        help="brief on a month not yet over (by today or the data's as-of date), every page "
        "marked PROVISIONAL",
    )

    synth = commands.add_parser(
        "synth",
        help="synthetic nightly extracts of several fictional sources",
        description="Write seeded, deterministic synthetic extracts and a manifest of the "
        "defects injected.",
    )
    synth.add_argument("--out", type=Path, required=True, help="raw folder to write into")
    synth.add_argument("--seed", type=int, default=42, help="random seed")
    synth.add_argument("--scale", type=float, default=1.0, help="volume multiplier")
    synth.add_argument("--until", type=_month, default=None, help="last month (YYYY-MM)")
    synth.add_argument(
        "--only", default=None, help="comma-separated source names (default: all five)"
    )

    serve = commands.add_parser(
        "serve",
        help="the nightly and monthly schedules",
        description=f"Serve the nightly ({clock(settings.NIGHTLY_CRON)}) and monthly briefing "
        f"({clock(settings.BRIEFING_CRON)} on the 1st) schedules, {settings.SCHEDULE_TIMEZONE}, "
        "as Prefect deployments.",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=settings.SERVE_PORT,
        help="port of the private Prefect server and its UI on 127.0.0.1, when no "
        f"PREFECT_API_URL is set (default {settings.SERVE_PORT}; 0: any free port)",
    )

    export = commands.add_parser(
        "export",
        help="the curated tables as Parquet, CSV or XLSX",
        description="Export every curated table for other tools, one file each. Parquet "
        "files carry each column's meaning in their schema metadata, XLSX workbooks on a "
        "'columns' sheet. CSV cells that begin with = + - @ are prefixed with ' so "
        "spreadsheets do not run them; XLSX cells are always written as text.",
    )
    export.add_argument("--format", choices=("parquet", "csv", "xlsx"), required=True)
    export.add_argument("--out", type=Path, required=True, help="output folder")
    export.add_argument("--db", type=Path, default=settings.CURATED_DB, help="published database")

    lookup = commands.add_parser(
        "lookup",
        help="the agency references behind a person id or a child id (audited)",
        description="For those entitled to act: every agency's source and person reference "
        "behind a person_id (or the person of a child_id), from the restricted identity "
        "store; a child_id the identity store does not know is looked up in the private "
        "working store. Every look-up is appended to the identity store's lookup_audit.",
    )
    lookup.add_argument("child_id", metavar="PERSON_ID|CHILD_ID")
    lookup.add_argument(
        "--work-db", type=Path, default=settings.WORK_DB, help="private working store"
    )
    _identity_db_option(lookup)
    _by_option(lookup, "who is looking (recorded in lookup_audit)")
    _at_risk_parser(commands)
    _link_parser(commands)
    for command in commands.choices.values():
        command.formatter_class = _DefaultsShown
    return top


def _by_option(command: argparse.ArgumentParser, text: str) -> None:
    command.add_argument("--by", default=None, help=f"{text}; default: the login name")


def _at_risk_parser(commands: argparse._SubParsersAction) -> None:
    """`whereabouts at-risk`: the restricted practitioners' list (audited)."""
    at_risk = commands.add_parser(
        "at-risk",
        help="the practitioners' list of children most at risk, with names (restricted, audited)",
        description="For those entitled to act: the curated at_risk_children list in its "
        "order, with each child's names, date of birth and every agency's reference from the "
        "restricted identity store, as .xlsx or .csv (mode 0600; never into the curated or "
        "reports folders). Every export is appended to the identity store's export_audit "
        "before the file appears.",
    )
    at_risk.add_argument(
        "--out", type=Path, required=True, help="file to write: .xlsx or .csv, by its suffix"
    )
    at_risk.add_argument(
        "--as-of",
        type=_date,
        default=None,
        help="the list on an earlier run date, by the same models over the episodes reported "
        "by then as recorded now (default: the published list)",
    )
    at_risk.add_argument("--db", type=Path, default=settings.CURATED_DB, help="published database")
    at_risk.add_argument(
        "--work-db",
        type=Path,
        default=None,
        help="private working store, read for an earlier --as-of (default: the --db's own)",
    )
    _identity_db_option(at_risk)
    at_risk.add_argument(
        "--sources",
        type=Path,
        default=settings.SOURCES_DIR,
        help="source declarations (an earlier --as-of names each agency with them)",
    )
    _by_option(at_risk, "who is exporting (recorded in export_audit)")
    at_risk.add_argument("--purpose", default=None, help="why (recorded in export_audit)")


def _link_parser(commands: argparse._SubParsersAction) -> None:
    """`whereabouts link train|decide|review`: the linkage model and its review."""
    link = commands.add_parser(
        "link",
        help="train the linkage model, record review decisions, export the review queue",
        description="Record linkage of children across agencies (docs/linkage.md).",
    )
    steps = link.add_subparsers(dest="link_command", required=True, metavar="STEP")
    train = steps.add_parser(
        "train",
        help="fit the splink model and write schemas/linkage/model.json",
        description="Fit the splink model (u by seeded random sampling, m by EM on blocked "
        "pairs) on the identity store's records, or on seeded synthetic person records with "
        "--synthetic, print each blocking rule's comparison count, and write the model.",
    )
    _identity_db_option(train)
    train.add_argument(
        "--synthetic",
        action="store_true",
        help="train on seeded synthetic person records instead of the identity store",
    )
    train.add_argument("--out", type=Path, default=settings.LINKAGE_MODEL, help="model file")
    decide = steps.add_parser(
        "decide",
        help="record a reviewer's decision on two records",
        description="Record that two identity records are the same child or different "
        "children; every later run obeys it (never-link beats any score; must-link joins).",
    )
    decide.add_argument("record_a", metavar="A")
    decide.add_argument("record_b", metavar="B")
    decide.add_argument("decision", choices=("same", "different"))
    _identity_db_option(decide)
    _by_option(decide, "who decided")
    run = steps.add_parser(
        "run",
        help="link the identity store's new or changed records with the saved model",
        description="Link the identity store's new or changed records with the saved model "
        "(the nightly does this after capturing identities); prints persons, links and the "
        "review backlog, and with --truth the precision and recall of pairs.",
    )
    _identity_db_option(run)
    run.add_argument("--model", type=Path, default=settings.LINKAGE_MODEL, help="model file")
    run.add_argument(
        "--truth",
        type=Path,
        default=None,
        help="synthetic truth file (source, person_ref, true_person) to measure against",
    )
    review = steps.add_parser(
        "review",
        help="the review queue as offline HTML pages, one per pair",
        description="Write one offline HTML page (mode 0600) per queued pair: the two "
        "records side by side and the waterfall of the model's match weights.",
    )
    review.add_argument("--out", type=Path, required=True, help="folder for the pages")
    _identity_db_option(review)
