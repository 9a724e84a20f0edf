"""The project's own failures. Each message is the one line a user reads: what is wrong, where,
and what to do. The command line prints these as that line; any other exception is a bug and
keeps its traceback.

Each also derives from the built-in exception it refines, so callers that catch, say,
`FileNotFoundError` keep working.
"""

from __future__ import annotations

from pathlib import Path


class WhereaboutsError(Exception):
    """A failure the user can act on."""


class UsageError(WhereaboutsError, ValueError):
    """An argument a command was given cannot be used."""


class ConfigurationError(WhereaboutsError, ValueError):
    """A declaration, contract or key file is wrong."""


class MissingInput(WhereaboutsError, FileNotFoundError):
    """A database, store or key that should exist does not."""


class NotFound(WhereaboutsError, LookupError):
    """An id that was looked up is unknown."""


class ServiceUnavailable(WhereaboutsError, RuntimeError):
    """A service the command needs (Prefect's local API) did not start."""


class StoreBusy(WhereaboutsError, RuntimeError):
    """A store another process holds open for writing (a nightly run, most often)."""


def busy(path: Path) -> StoreBusy:
    """The one line for a store that DuckDB could not lock."""
    return StoreBusy(f"{path}: in use by another process (a nightly run?); try again when it ends")
