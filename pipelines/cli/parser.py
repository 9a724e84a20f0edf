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


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="whereabouts",
        description="Analytics for children reported missing or absent.",
    )
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

    commands.add_parser(
        "serve",
        help="the nightly and monthly schedules",
        description=f"Serve the nightly ({clock(settings.NIGHTLY_CRON)}) and monthly briefing "
        f"({clock(settings.BRIEFING_CRON)} on the 1st) schedules, {settings.SCHEDULE_TIMEZONE}, "
        "as Prefect deployments.",
    )

    export = commands.add_parser(
        "export",
        help="the curated tables as Parquet or CSV",
        description="Export every curated table for other tools. CSV cells that begin "
        "with = + - @ are prefixed with ' so spreadsheets do not run them.",
    )
    export.add_argument("--format", choices=("parquet", "csv"), required=True)
    export.add_argument("--out", type=Path, required=True, help="output folder")
    export.add_argument("--db", type=Path, default=settings.CURATED_DB, help="published database")

    lookup = commands.add_parser(
        "lookup",
        help="the source and person reference behind a pseudonymised child id",
        description="For those entitled to act: the source and person reference behind a "
        "child_id, read from the private working store.",
    )
    lookup.add_argument("child_id")
    lookup.add_argument(
        "--work-db", type=Path, default=settings.WORK_DB, help="private working store"
    )
    return top
