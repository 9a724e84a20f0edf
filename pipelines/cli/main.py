"""The `whereabouts` entry point: parse, run the command, turn known failures into one line."""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import time
from collections.abc import Callable
from typing import NoReturn

from pipelines.cli import STARTED
from pipelines.cli.parser import parser
from pipelines.cli.prechecks import precheck
from pipelines.errors import WhereaboutsError

# Commands that run Prefect flows, and so need its API (`briefing` by hand is a plain call).
FLOW_COMMANDS = frozenset({"demo", "nightly"})


def main(argv: list[str] | None = None) -> int:
    """The `whereabouts` command. Started from the shell (no `argv`), a flow command runs as a
    Prefect flow when a Prefect API is configured (or with `--prefect`, on a temporary local API
    started while the heavy modules load), and as plain calls otherwise. Called in-process
    (tests), it runs flows on the API the caller set up."""
    args = parser().parse_args(argv)
    # From the shell, the process's start (imports included); called in-process, this call's.
    args.started = STARTED if argv is None else time.monotonic()
    code = _answer(args, precheck)
    if code:
        return code
    if argv is not None or args.command not in FLOW_COMMANDS:
        return _answer(args, _run)
    from pipelines.orchestration.prefect_api import api_for_flows, configured_api

    if not (args.prefect or configured_api()):
        # No server to report to: the steps run as plain calls, with no temporary Prefect API
        # (about 8 s) and without importing Prefect (docs/operations.md).
        args.plain = True
        _leave(_answer(args, _run))
    with api_for_flows(warm_up=_load_flow_modules) as own_api:
        code = _answer(args, _run)
    if not own_api:
        # A configured server is still there: Prefect's last logs and events go to it from
        # threading's exit hooks, which only a normal exit runs.
        return code
    _leave(code)


def _answer(args: argparse.Namespace, run: Callable[[argparse.Namespace], int]) -> int:
    """Run a command; a known failure becomes one line on stderr and exit status 1."""
    try:
        return run(args)
    except Exception as exc:
        # The project's own failures, whose messages say what to do, end in one plain line;
        # anything else is a bug and shows its traceback.
        if args.debug or not isinstance(exc, WhereaboutsError):
            raise
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"whereabouts {args.command}: {message}", file=sys.stderr)
        return 1


def _leave(code: int) -> NoReturn:
    """End a flow command that ran plain or on its own temporary Prefect API, now stopped. The exit
    handlers run (temporary folders are removed, logs flushed); tearing down GX's, pandas' and
    Prefect's modules one by one is skipped. Measured with `python -m benchmarks.teardown`:
    the ordinary exit took 1.20 s (median of 5; 1.17-1.37), this one 0.03 s, on 2 cores."""
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _load_flow_modules() -> None:
    # Prefect, pandas, DuckDB and the flows themselves. Not Great Expectations (seconds on 2
    # cores, docs/scaling.md): only a night with new files, or a failed curated check, needs it.
    import pipelines.orchestration.flows  # noqa: F401


def _run(args: argparse.Namespace) -> int:
    from pipelines.cli import commands

    command: Callable[[argparse.Namespace], int] = getattr(
        commands, f"{args.command.replace('-', '_')}_command"
    )
    return command(args)
