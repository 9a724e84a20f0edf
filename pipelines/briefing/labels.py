"""Plain words for the codes the curated tables hold, in one place for every page.

A board reads "Found by police", not ``found_by_police``. A code missing here is shown as it
is (``plain`` never drops a row), so a new code is visible rather than silently renamed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

CATEGORIES = {
    "missing": "Missing",
    "absent": "Absent",
    "away": "Away from placement",
    "undetermined": "Undetermined",
    "other": "Other or not recorded",
}
OUTCOMES = {
    "returned": "Returned",
    "found_by_police": "Found by police",
    "found_by_other": "Found by someone else",
    "found_harmed": "Found harmed",
    "found_dead": "Found dead",
    "not recorded": "Not recorded",
    "still open": "Still open",
}
RISK_GRADES = {
    "no_apparent_risk": "No apparent risk",
    "low": "Low",
    "medium": "Medium",
    "high": "High",
    "not recorded": "Not recorded",
}
PLACES = {
    "home": "Home",
    "foster": "Foster care",
    "residential": "Residential",
    "other": "Elsewhere",
    "not recorded": "Not recorded",
}
DURATIONS = {
    "<24h": "Under 24 hours",
    "24-48h": "24 to 48 hours",
    "2-7 days": "2 to 7 days",
    "7-30 days": "7 to 30 days",
    ">30 days": "Over 30 days",
    "open": "Still open",
}
# episodes.category_basis: what decided an episode's category.
CATEGORY_BASIS = {
    "recorded": "Recorded by the agency",
    "risk_grade": "Risk grade",
    "escalated": "Escalated to missing",
    "derived": "Derived by the pipeline",
    "none": "Nothing to go on",
}
# ingest_files.status
FILE_STATUS = {"loaded": "Loaded", "duplicate": "Duplicate", "rejected": "Rejected"}
# agency_reconciliation.kind: what disagrees between police and council records.
RECONCILIATION = {
    "council_missing_no_police_report": "Council recorded missing, no police report",
    "police_missing_no_council_episode": (
        "Police missing episode of a looked-after child, no council record"
    ),
    "looked_after_unknown_to_council": "Police say looked after, council does not know the child",
}
# The same, short enough for a chart's legend or a table's row (two lines each).
RECONCILIATION_SHORT = {
    "council_missing_no_police_report": "Council recorded missing,\nno police report",
    "police_missing_no_council_episode": "Police missing (looked after),\nno council record",
    "looked_after_unknown_to_council": "Police say looked after,\ncouncil does not know the child",
}
# linkage_quality breakdowns of measure 'links': the rule that linked a pair of records.
LINK_RULES = {
    "same_agency_ref": "Same agency's own reference",
    "shared_nhs_number": "Same NHS number",
    "shared_upn": "Same unique pupil number",
    "la_child_ref": "Council's child id on a police record",
    "police_ref": "Police reference on a council record",
    "model": "Matched on name, birth date and address",
    "decision": "Linked by a reviewer",
}
# Which agencies know a child, as the "Across agencies" page groups them.
AGENCY_GROUPS = {
    "police_social_care_education": "Police, children's social care and education",
    "police_social_care": "Police and children's social care",
    "police_education": "Police and education",
    "social_care_education": "Children's social care and education",
    "police_forces": "Two or more police forces only",
}
EPISODE_BANDS = ["1", "2", "3", "4", "5", "6-10", "11-20", "21-50", "over 50"]
EPISODE_BAND_WORDS = {band: band for band in EPISODE_BANDS} | {"over 50": "Over 50"}


def plain(codes: Iterable[object], words: Mapping[str, str]) -> list[str]:
    """Each code in plain words; one with no words is shown as it is."""
    return [words.get(str(code), str(code)) for code in codes]


# Quarantine reasons, "check: column" (queries._reason_label): the incoming checks
# (schemas/tables/incoming_episodes.yml) and the DfE SSDA903 validation rules by number.
CHECKS = {
    "required": "Value missing",
    "date_parses": "Not a date",
    "code_in_list": "Code not in the source's list",
    "born_before_reported": "Born after the report",
    "returned_after_last_seen": "Return before last seen",
    "returned_after_reported": "Return before the report",
    "reported_before_return": "Report after the return",
    "last_seen_before_reported": "Last seen after the report",
    "one_row_per_episode": "Episode listed twice in one file",
    "date_in_range": "Date out of range",
    "1004": "Start date missing or not a date",
    "1005": "End date not a date",
    "1006": "Missing code not M or A",
    "564": "Missing or away with no start date",
    "565": "Start date with no missing code",
    "566": "End date with no missing code",
    "567": "End date before start date",
    "570": "Start after the collection year",
    "571": "End outside the collection year",
    "574": "Overlaps the child's previous episode",
    "586": "Start on or before date of birth",
}
COLUMNS = {
    "episode_ref": "episode reference",
    "person_ref": "person reference",
    "date_of_birth": "date of birth",
    "reported_at": "time reported",
    "last_seen_at": "time last seen",
    "returned_at": "time returned",
    "category": "category",
    "initial_risk_grade": "first risk grade",
    "risk_grade": "risk grade",
    "sex": "sex",
    "looked_after": "looked-after flag",
    "missing_from": "place missing from",
    "cse_flag": "exploitation marker",
    "outcome": "outcome",
    "rhi_offered_at": "RHI offered",
    "rhi_completed_at": "RHI completed",
    "extracted_at": "extract time",
    "child": "child id",
    "dob": "date of birth",
    "missing": "missing code",
    "mis_start": "start date",
    "mis_end": "end date",
}


def reason_words(label: str) -> str:
    """A quarantine reason label ("check" or "check: column") in plain words; a DfE rule's
    words already name its column, so the column is not repeated."""
    check, _, column = label.partition(": ")
    words = CHECKS.get(check, check.replace("_", " ").capitalize())
    if not column or check.isdigit():
        return words
    return f"{words} ({COLUMNS.get(column.lower(), column.lower().replace('_', ' '))})"


def source_words(name: str) -> str:
    """A source's name as a reader would write it: ``riverton_la`` as "Riverton (council)"."""
    if name == "Total":
        return name
    base, _, rest = name.partition("_")
    words = {"la": "council", "cme": "education", "children": "council children"}
    return base.capitalize() + (f" ({words.get(rest, rest.replace('_', ' '))})" if rest else "")
