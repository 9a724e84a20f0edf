"""Which complete raw files exist for each declared source: names, sizes and times, never rows.

A file is read only where it is: a symbolic link (of the file, or of its source's folder)
that leads out of the raw folder is listed as refused, with the link's own size and time,
and nothing behind it is opened. A link to a file inside the raw folder is read as that
file (the same bytes under two names: the second is a duplicate).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import MissingInput
from pipelines.settings import IN_PROGRESS_SUFFIXES
from pipelines.sources.declarations import Source

# The ledger's reason for a file that leads out of the raw folder.
OUTSIDE = "a symbolic link to a file outside the raw folder"


@dataclass(frozen=True)
class RawFile:
    source: Source
    path: Path
    rel: str  # <source>/<name>: the file's name in the ledger
    size: int
    mtime: float
    refused: str = ""  # why it is rejected without being opened (OUTSIDE), if it is


def outside(path: Path, raw_dir: Path) -> bool:
    """Whether a path in the raw folder leads, through any link, out of it."""
    return not path.resolve().is_relative_to(raw_dir.resolve())


def is_complete(path: Path) -> bool:
    """Writers drop files as dotfiles or *.part/*.tmp and rename them when complete."""
    return not path.name.startswith(".") and path.suffix.lower() not in IN_PROGRESS_SUFFIXES


def discover(raw_dir: Path, sources: dict[str, Source]) -> tuple[list[RawFile], list[str]]:
    """Complete files of declared sources in arrival order, and undeclared folders.

    A raw folder that is missing or cannot be read is an error, never an empty night: an
    unmounted share or a wrong --raw would otherwise pass for "nothing arrived".
    """
    found: list[RawFile] = []
    undeclared: list[str] = []
    for folder in sorted(p for p in _listing(raw_dir, "raw folder") if p.is_dir()):
        source = sources.get(folder.name)
        if source is None:
            undeclared.append(folder.name)
            continue
        listed = _listing(folder, f"raw folder of source {folder.name}")
        for path in sorted(p for p in listed if is_complete(p)):
            rel = f"{folder.name}/{path.name}"
            if outside(path, raw_dir):
                # Not followed: the link's own size and time (lstat), never its target's.
                link = path.lstat()
                found.append(RawFile(source, path, rel, link.st_size, link.st_mtime, OUTSIDE))
            elif path.is_file():
                stat = path.stat()
                found.append(RawFile(source, path, rel, stat.st_size, stat.st_mtime))
    return found, undeclared


def check_raw_folder(raw_dir: Path) -> None:
    """Raise MissingInput, naming it, when the raw folder is missing or unreadable."""
    _listing(raw_dir, "raw folder")


def _listing(folder: Path, what: str) -> list[Path]:
    """A folder's entries; a missing or unreadable folder raises MissingInput naming it."""
    if not folder.is_dir():
        raise MissingInput(f"{folder}: the {what} does not exist or is not a folder")
    try:
        return list(folder.iterdir())
    except OSError as exc:
        raise MissingInput(
            f"{folder}: the {what} cannot be read ({exc.strerror or type(exc).__name__})"
        ) from None
