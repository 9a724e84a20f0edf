"""The standard episode record: the fields every source is mapped onto, and their codes."""

from __future__ import annotations

# Fields of the standard extract layout (README.md, "The standard extract layout"), in the
# order the pipeline keeps them, with the type
# each is parsed into. Everything else about the fields (which are dates, the working store's
# columns) is derived from this one declaration.
FIELD_TYPES: dict[str, str] = {
    "episode_ref": "VARCHAR",
    "person_ref": "VARCHAR",
    "date_of_birth": "DATE",
    "reported_at": "TIMESTAMP",
    "last_seen_at": "TIMESTAMP",
    "returned_at": "TIMESTAMP",
    "category": "VARCHAR",
    "initial_risk_grade": "VARCHAR",
    "risk_grade": "VARCHAR",
    "sex": "VARCHAR",
    "looked_after": "VARCHAR",
    "missing_from": "VARCHAR",
    "cse_flag": "VARCHAR",
    "outcome": "VARCHAR",
    "rhi_offered_at": "TIMESTAMP",
    "rhi_completed_at": "TIMESTAMP",
    "extracted_at": "TIMESTAMP",
}
FIELDS: tuple[str, ...] = tuple(FIELD_TYPES)
REQUIRED: tuple[str, ...] = ("episode_ref", "person_ref", "date_of_birth", "reported_at")
DATE_FIELDS: tuple[str, ...] = tuple(f for f, t in FIELD_TYPES.items() if t == "DATE")
DATETIME_FIELDS: tuple[str, ...] = tuple(f for f, t in FIELD_TYPES.items() if t == "TIMESTAMP")
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
# The identity values a source may carry (README.md, "The standard extract layout"), with the
# types the identity store keeps them as. They go only to the restricted identity store
# (pipelines.identity), never to the working store's episode tables: date_of_birth and sex
# are episode fields as well, the rest are read only to be handed to the identity store.
IDENTITY_FIELDS: dict[str, str] = {
    "forename": "VARCHAR",
    "surname": "VARCHAR",
    "date_of_birth": "DATE",
    "sex": "VARCHAR",
    "postcode": "VARCHAR",
    "upn": "VARCHAR",
    "nhs_number": "VARCHAR",
    "la_child_ref": "VARCHAR",
    "police_ref": "VARCHAR",
}
# The other agency's reference for the child: optional even in the fixed identity layouts.
CROSS_REFERENCES: tuple[str, ...] = ("la_child_ref", "police_ref")
# Identity fields that are not episode fields: split off a police file as soon as it is read.
IDENTITY_ONLY: tuple[str, ...] = tuple(f for f in IDENTITY_FIELDS if f not in FIELD_TYPES)
# Layouts that carry only identities (no episodes), each as standard field -> its fixed
# column (matched case-insensitively). Every mapped column but a cross-reference must be
# present in a file.
# ETHNIC (SSDA903 header) and looked_after (la_children) are not identity values and are not
# read; a cme file's off_roll_on, reason and resolved_on are read as LAYOUT_VALUES.
IDENTITY_LAYOUTS: dict[str, dict[str, str]] = {
    "ssda903_header": {
        "person_ref": "CHILD",
        "sex": "SEX",
        "date_of_birth": "DOB",
        "upn": "UPN",
    },
    # Every identity field by its own name; the council's child id is its person_ref.
    "la_children": {f: f for f in ("person_ref", *IDENTITY_FIELDS) if f != "la_child_ref"},
    "cme": {
        f: f for f in ("person_ref", "forename", "surname", "date_of_birth", "upn", "postcode")
    },
}
# Values of an identity layout that are not identities, read beside them and stored in the
# working store (never the identity store): a cme file's spell off roll.
LAYOUT_VALUES: dict[str, dict[str, str]] = {
    "cme": {f: f for f in ("off_roll_on", "reason", "resolved_on")},
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
