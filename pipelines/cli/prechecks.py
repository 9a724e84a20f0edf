"""A command's arguments and paths, checked before Prefect, pandas or Great Expectations load.

Those libraries take most of a flow command's first seconds (about 10 s on 2 cores, more with
Prefect's temporary server); a mistyped path or a broken declaration is answered in well under
a second instead, with the same one line the run itself would give.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from pipelines.errors import MissingInput
from pipelines.sources.declarations import load_sources
from pipelines.sources.discovery import check_raw_folder


def nightly(args: argparse.Namespace) -> None:
    """The source declarations, the raw folder and a truth file given."""
    load_sources(args.sources)
    check_raw_folder(args.raw)
    if args.truth is not None and not args.truth.is_file():
        raise MissingInput(f"{args.truth}: no such truth file")


def briefing(args: argparse.Namespace) -> None:
    """The published database the briefing reads."""
    if not args.db.is_file():
        raise MissingInput(f"{args.db}: no published database (run 'whereabouts nightly')")


PRECHECKS: dict[str, Callable[[argparse.Namespace], None]] = {
    "nightly": nightly,
    "briefing": briefing,
}


def precheck(args: argparse.Namespace) -> int:
    """Run the command's checks, if it has any; raise on the first failure."""
    check = PRECHECKS.get(args.command)
    if check is not None:
        check(args)
    return 0
