"""Which complete raw files exist for each declared source: names, sizes and times, never rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.settings import IN_PROGRESS_SUFFIXES
from pipelines.sources.declarations import Source


@dataclass(frozen=True)
class RawFile:
    source: Source
    path: Path
    rel: str  # <source>/<name>: the file's name in the ledger
    size: int
    mtime: float


def is_complete(path: Path) -> bool:
    """Writers drop files as dotfiles or *.part/*.tmp and rename them when complete."""
    return not path.name.startswith(".") and path.suffix.lower() not in IN_PROGRESS_SUFFIXES


def discover(raw_dir: Path, sources: dict[str, Source]) -> tuple[list[RawFile], list[str]]:
    """Complete files of declared sources in arrival order, and undeclared folders."""
    found: list[RawFile] = []
    undeclared: list[str] = []
    if not raw_dir.is_dir():
        return found, undeclared
    for folder in sorted(p for p in raw_dir.iterdir() if p.is_dir()):
        source = sources.get(folder.name)
        if source is None:
            undeclared.append(folder.name)
            continue
        for path in sorted(p for p in folder.iterdir() if p.is_file() and is_complete(p)):
            stat = path.stat()
            rel = f"{folder.name}/{path.name}"
            found.append(RawFile(source, path, rel, stat.st_size, stat.st_mtime))
    return found, undeclared
