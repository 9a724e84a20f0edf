"""Where the restricted practitioners' list (`whereabouts at-risk`) may be written, and as
what: checked before anything heavy is loaded or opened, so a refusal is one quick line."""

from __future__ import annotations

from pathlib import Path

from pipelines import settings
from pipelines.errors import UsageError

FORMATS = {".xlsx": "xlsx", ".csv": "csv"}


def export_format(out: Path) -> str:
    """The file format an --out asks for by its suffix; any other is refused."""
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise UsageError(f"{out}: the list is written as .xlsx or .csv, not '{out.suffix}'")
    return fmt


def published_places(db: Path) -> list[Path]:
    """Folders whose files are published (to the analysts' group or the board)."""
    places = [db.parent, settings.BRIEFINGS_DIR, settings.VALIDATION_DIR]
    reports = settings.BRIEFINGS_DIR.parent
    if reports == settings.VALIDATION_DIR.parent and reports.name == "reports":
        places.append(reports)
    return [p.resolve() for p in places]


def check_destination(out: Path, db: Path) -> None:
    """Refuse an --out inside a published place."""
    where = out.resolve()
    for place in published_places(db):
        if where.is_relative_to(place):
            raise UsageError(
                f"{out}: inside {place}, where published files go; the list is restricted, "
                "write it somewhere only those entitled to act can read"
            )
