"""The standard episode record: the fields every source is mapped onto, and their codes."""

from __future__ import annotations

# Fields of the standard extract layout (README.md, "The standard extract layout"), in order.
FIELDS: tuple[str, ...] = (
    "episode_ref",
    "person_ref",
    "date_of_birth",
    "reported_at",
    "last_seen_at",
    "returned_at",
    "category",
    "initial_risk_grade",
    "risk_grade",
    "sex",
    "looked_after",
    "missing_from",
    "cse_flag",
    "outcome",
    "rhi_offered_at",
    "rhi_completed_at",
    "extracted_at",
)
REQUIRED: tuple[str, ...] = ("episode_ref", "person_ref", "date_of_birth", "reported_at")
DATE_FIELDS: tuple[str, ...] = ("date_of_birth",)
DATETIME_FIELDS: tuple[str, ...] = (
    "reported_at",
    "last_seen_at",
    "returned_at",
    "rhi_offered_at",
    "rhi_completed_at",
    "extracted_at",
)
# The standard code lists. Values are matched case-insensitively; risk grades are stored with
# underscores ("no apparent risk" -> "no_apparent_risk") so they read as identifiers in SQL.
CODES: dict[str, tuple[str, ...]] = {
    "category": ("missing", "absent"),
    "initial_risk_grade": ("no_apparent_risk", "low", "medium", "high"),
    "risk_grade": ("no_apparent_risk", "low", "medium", "high"),
    "sex": ("M", "F", "X", "U"),
    "looked_after": ("Y", "N"),
    "missing_from": ("home", "foster", "residential", "other"),
    "cse_flag": ("Y", "N"),
    "outcome": ("returned", "found_by_police", "found_by_other", "found_harmed", "found_dead"),
}
# Columns of the SSDA903 Missing table, exactly as DfE names them.
SSDA903_COLUMNS: tuple[str, ...] = ("CHILD", "DOB", "MISSING", "MIS_START", "MIS_END")
SSDA903_CODES: dict[str, str] = {"M": "missing", "A": "away"}


def canonical_code(field: str, value: str) -> str:
    """The standard spelling of a code as it appears in the standard layout."""
    text = value.strip()
    if field in ("sex", "looked_after", "cse_flag"):
        return text.upper()
    return text.lower().replace(" ", "_")
