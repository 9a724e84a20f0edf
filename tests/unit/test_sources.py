"""Source declarations: what loads, and the exact message for each way one can be wrong."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipelines.sources.declarations import DeclarationError, RegimeChange, load_source, load_sources
from pipelines.sources.record import FIELDS, IDENTITY_LAYOUTS, IDENTITY_ONLY, LAYOUT_VALUES

ROOT = Path(__file__).resolve().parents[2]
REQUIRED_COLUMNS = (
    "  columns: {episode_ref: Ref, person_ref: Subject, date_of_birth: DOB, reported_at: Reported}"
    "\n"
)


def declare(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def mapped(extra: str = "", columns: str = REQUIRED_COLUMNS, name: str = "shire") -> str:
    return f"name: {name}\nlayout:\n{columns}{extra}"


BAD = [
    pytest.param(
        "name: shire\nlayout: standard\nregime: []\n",
        "key 'regime': unknown key (use agency, description, layout, name, regimes)",
        id="unknown_top_level_key",
    ),
    pytest.param(
        mapped("  sheets: Episodes\n"),
        "key 'layout.sheets': unknown key (use ['codes', 'columns', 'format', 'sheet'])",
        id="unknown_layout_key",
    ),
    pytest.param(
        "name: shire\nlayout: standard\nregimes:\n"
        "  - {from: 2016-01-01, regime: two_tier}\n"
        "  - {from: 2017-01-01, regime: three_tier}\n",
        "key 'regimes[1]': unknown regime 'three_tier' (use single, two_tier, continuum)",
        id="bad_regime_name",
    ),
    pytest.param(
        "name: shire\nlayout: standard\nregimes:\n"
        "  - {from: 2017-01-01, regime: continuum}\n"
        "  - {from: 2016-01-01, regime: two_tier}\n",
        "key 'regimes': dates must be in increasing order",
        id="regimes_out_of_order",
    ),
    pytest.param(
        "name: shire\nlayout: standard\nregimes:\n"
        "  - {from: 2016-01-01, regime: two_tier}\n"
        "  - {from: 2016-01-01, regime: continuum}\n",
        "key 'regimes[1]': starts on 2016-01-01, the same day as regimes[0]",
        id="two_regimes_on_one_day",
    ),
    pytest.param(
        "name: shire\nlayout: standard\nregimes: []\n",
        "key 'regimes': must be a list of {from: YYYY-MM-DD, regime: NAME}",
        id="regimes_empty",
    ),
    pytest.param(
        "name: shire\nlayout: standard\nregimes:\n"
        "  - {from: 2016-01-01, regime: two_tier, to: x}\n",
        "key 'regimes[0]': needs exactly the keys 'from' and 'regime'",
        id="regime_extra_key",
    ),
    pytest.param(
        "name: shire\nlayout: standard\nregimes:\n  - {from: January 2016, regime: two_tier}\n",
        "key 'regimes[0]': 'from' is not a YYYY-MM-DD date: 'January 2016'",
        id="regime_from_not_a_date",
    ),
    pytest.param(
        "name: shire\nlayout: standard\nregimes:\n  - {from: 2016-13-01, regime: two_tier}\n",
        "not valid YAML: month must be in 1..12",
        id="regime_from_not_a_real_date",
    ),
    pytest.param(
        mapped(columns="  columns: {episode_ref: Ref, person_ref: Subject, date_of_birth: DOB}\n"),
        "key 'layout.columns.reported_at': required field has no mapping",
        id="missing_required_mapping",
    ),
    pytest.param(
        mapped(columns="  format: csv\n"),
        "key 'layout.columns': must map standard fields to this source's columns",
        id="no_columns",
    ),
    pytest.param(
        mapped(columns=REQUIRED_COLUMNS.replace("}", ", first_name: First Name}")),
        "key 'layout.columns.first_name': not a field of the standard record or an identity",
        id="column_not_in_standard_record",
    ),
    pytest.param(
        mapped("  codes:\n    category: {MISSING: missing, AWAY: away}\n"),
        "key 'layout.codes.category.AWAY': 'away' is not a standard category code",
        id="code_mapped_to_non_standard_value",
    ),
    pytest.param(
        mapped("  codes:\n    looked_after: {YES: Y, NO: N}\n"),
        "key 'layout.codes.looked_after': "
        "YAML read a code as true/false: quote codes like YES, NO, ON, OFF",
        id="yes_no_unquoted",
    ),
    pytest.param(
        mapped("  codes:\n    cse_flag: {'1': yes, '0': no}\n"),
        "key 'layout.codes.cse_flag': "
        "YAML read a code as true/false: quote codes like YES, NO, ON, OFF",
        id="yes_no_unquoted_as_standard_value",
    ),
    pytest.param(
        mapped("  codes:\n    episode_ref: {A: B}\n"),
        "key 'layout.codes.episode_ref': this field has no code list",
        id="codes_for_field_without_list",
    ),
    pytest.param(
        mapped("  codes:\n    sex: [M, F]\n"),
        "key 'layout.codes.sex': must map this source's codes to standard ones",
        id="codes_not_a_mapping",
    ),
    pytest.param(
        mapped("  format: xls\n"),
        "key 'layout.format': unknown format 'xls' (use csv, xlsx, parquet)",
        id="unknown_format",
    ),
    pytest.param(
        "name: shire\nlayout: standrad\n",
        "key 'layout': unknown layout 'standrad' (use standard, ssda903_missing, "
        "ssda903_header, la_children, cme or a mapping)",
        id="unknown_layout_name",
    ),
    pytest.param(
        "name: shire\nlayout: ssda903_missing\nregimes:\n"
        "  - {from: 2016-01-01, regime: two_tier}\n",
        "key 'regimes': an SSDA903 table has no police recording regime",
        id="ssda903_with_regimes",
    ),
    pytest.param(
        "name: shire\nagency: ''\nlayout: standard\n",
        "key 'agency': must be a name (leave it out to use the source's name)",
        id="agency_blank",
    ),
    pytest.param(
        "name: shire\nagency: [a, b]\nlayout: standard\n",
        "key 'agency': must be a name (leave it out to use the source's name)",
        id="agency_not_a_name",
    ),
    pytest.param(
        "name: shire\nlayout: la_children\nregimes:\n  - {from: 2016-01-01, regime: two_tier}\n",
        "key 'regimes': a la_children file has no episodes, so no recording regime",
        id="identity_layout_with_regimes",
    ),
    pytest.param(
        "name: southbay\nlayout: standard\n",
        "key 'name': 'southbay' must match the file name 'shire'",
        id="name_not_matching_file",
    ),
    pytest.param("layout: standard\n", "key 'name': missing", id="name_missing"),
    pytest.param("name: shire\n", "key 'layout': missing", id="layout_missing"),
    pytest.param(
        "- name: shire\n", "must be a mapping with at least 'name' and 'layout'", id="not_a_mapping"
    ),
    pytest.param(
        "name: shire\nlayout: [standard\n",
        "not valid YAML: while parsing a flow sequence",
        id="not_yaml",
    ),
]


@pytest.mark.parametrize(("body", "message"), BAD)
def test_bad_declaration_names_file_and_key(tmp_path: Path, body: str, message: str) -> None:
    path = declare(tmp_path, "shire", body)
    with pytest.raises(DeclarationError) as raised:
        load_source(path)
    assert str(raised.value) == f"{path}: {message}"


def test_a_source_name_with_a_colon_is_refused(tmp_path: Path) -> None:
    path = declare(tmp_path, "north:shire", "name: 'north:shire'\nlayout: standard\n")
    with pytest.raises(DeclarationError) as raised:
        load_source(path)
    message = "key 'name': 'north:shire' must not contain ':' (episode ids use it)"
    assert str(raised.value) == f"{path}: {message}"


def test_declaration_not_utf8_is_a_declaration_error(tmp_path: Path) -> None:
    path = tmp_path / "shire.yaml"
    path.write_bytes("name: shire\ndescription: Shire £\nlayout: standard\n".encode("cp1252"))
    with pytest.raises(DeclarationError) as raised:
        load_source(path)
    assert str(raised.value).startswith(f"{path}: not valid YAML: 'utf-8' codec can't decode")


def test_standard_layout_maps_every_field_to_itself(tmp_path: Path) -> None:
    source = load_source(declare(tmp_path, "bay", "name: bay\nlayout: standard\n"))
    assert (source.name, source.kind, source.format, source.sheet) == (
        "bay",
        "standard",
        None,
        None,
    )
    assert source.columns == {f: f for f in (*FIELDS, *IDENTITY_ONLY)}
    assert source.agency == "bay"
    assert (source.codes, source.regimes, source.is_ssda903) == ({}, None, False)


def test_ssda903_layout(tmp_path: Path) -> None:
    body = "name: council\ndescription: A council\nlayout: ssda903_missing\n"
    source = load_source(declare(tmp_path, "council", body))
    assert (source.kind, source.is_ssda903, source.description, source.columns) == (
        "ssda903_missing",
        True,
        "A council",
        {},
    )


@pytest.mark.parametrize(
    ("layout", "columns"),
    [
        pytest.param(
            "ssda903_header",
            {"person_ref": "CHILD", "sex": "SEX", "date_of_birth": "DOB", "upn": "UPN"},
            id="ssda903_header",
        ),
        pytest.param(
            "la_children",
            {
                f: f
                for f in (
                    "person_ref",
                    "forename",
                    "surname",
                    "date_of_birth",
                    "sex",
                    "postcode",
                    "upn",
                    "nhs_number",
                    "police_ref",
                )
            },  # fmt: skip
            id="la_children",
        ),
        pytest.param(
            "cme",
            {
                f: f
                for f in (
                    *("person_ref", "forename", "surname", "date_of_birth", "upn", "postcode"),
                    *("off_roll_on", "reason", "resolved_on"),
                )
            },
            id="cme",
        ),
    ],
)
def test_identity_layouts_read_their_fixed_columns(
    tmp_path: Path, layout: str, columns: dict[str, str]
) -> None:
    body = f"name: council\nagency: shire_council\nlayout: {layout}\n"
    source = load_source(declare(tmp_path, "council", body))
    assert (source.kind, source.is_identity_only, source.is_ssda903) == (layout, True, False)
    assert (source.columns, source.agency) == (columns, "shire_council")
    assert source.columns == IDENTITY_LAYOUTS[layout] | LAYOUT_VALUES.get(layout, {})


def test_mapped_layout_maps_identity_columns(tmp_path: Path) -> None:
    columns = REQUIRED_COLUMNS.replace("}", ", forename: FIRST_NAME, police_ref: Nominal}")
    source = load_source(declare(tmp_path, "shire", mapped(columns=columns)))
    assert (source.columns["forename"], source.columns["police_ref"]) == ("FIRST_NAME", "Nominal")
    assert (source.agency, source.is_identity_only) == ("shire", False)


def test_agency_is_in_the_fingerprint(tmp_path: Path) -> None:
    plain = load_source(declare(tmp_path, "shire", "name: shire\nlayout: standard\n"))
    own = load_source(declare(tmp_path, "shire", "name: shire\nagency: shire\nlayout: standard\n"))
    other = load_source(declare(tmp_path, "shire", "name: shire\nagency: x\nlayout: standard\n"))
    assert (plain.agency, own.agency, other.agency) == ("shire", "shire", "x")
    assert plain.fingerprint != other.fingerprint


def test_mapping_codes_are_upper_cased_and_made_standard(tmp_path: Path) -> None:
    body = mapped(
        "  format: xlsx\n  sheet: Missing Episodes\n  codes:\n"
        "    risk_grade: {very low: No Apparent Risk, High: HIGH}\n"
        "    looked_after: {'YES': y, 'NO': N}\n"
        "    cse_flag: {1: Y, N: N}\n"
    )
    source = load_source(declare(tmp_path, "shire", body))
    assert (source.kind, source.format, source.sheet) == ("mapped", "xlsx", "Missing Episodes")
    assert source.columns == {
        "episode_ref": "Ref",
        "person_ref": "Subject",
        "date_of_birth": "DOB",
        "reported_at": "Reported",
    }
    assert source.codes == {
        "risk_grade": {"VERY LOW": "no_apparent_risk", "HIGH": "high"},
        "looked_after": {"YES": "Y", "NO": "N"},
        "cse_flag": {"1": "Y", "N": "N"},
    }


def test_regimes_parsed_in_order(tmp_path: Path) -> None:
    body = (
        "name: shire\nlayout: standard\nregimes:\n"
        "  - {from: 2016-01-01, regime: two_tier}\n"
        "  - {from: '2017-01-01', regime: continuum}\n"
    )
    assert load_source(declare(tmp_path, "shire", body)).regimes == (
        RegimeChange(date(2016, 1, 1), "two_tier"),
        RegimeChange(date(2017, 1, 1), "continuum"),
    )


SEX_CODES = "  codes:\n    sex: {MALE: M}\n"


@pytest.mark.parametrize(
    ("edited", "changes"),
    [
        pytest.param(mapped(SEX_CODES) + "# a comment\n", False, id="comment_added"),
        pytest.param(mapped(SEX_CODES.replace("}", ", FEMALE: F}")), True, id="code_added"),
        pytest.param(mapped(SEX_CODES + "  sheet: Other\n"), True, id="sheet_set"),
    ],
)
def test_fingerprint_follows_meaning_not_comments(tmp_path: Path, edited: str, changes: bool):
    before = load_source(declare(tmp_path, "shire", mapped(SEX_CODES)))
    after = load_source(declare(tmp_path, "shire", edited))
    assert len(before.fingerprint) == 16
    assert (before.fingerprint != after.fingerprint) is changes


def test_load_sources_by_name(tmp_path: Path) -> None:
    declare(tmp_path, "bay", "name: bay\nlayout: standard\n")
    declare(tmp_path, "council", "name: council\nlayout: ssda903_missing\n")
    assert {n: s.kind for n, s in load_sources(tmp_path).items()} == {
        "bay": "standard",
        "council": "ssda903_missing",
    }


def test_load_sources_first_bad_declaration_stops(tmp_path: Path) -> None:
    declare(tmp_path, "bay", "name: bay\nlayout: standard\n")
    bad = declare(tmp_path, "cove", "name: cove\nlayout: standard\nextra: 1\n")
    with pytest.raises(DeclarationError) as raised:
        load_sources(tmp_path)
    assert str(raised.value) == (
        f"{bad}: key 'extra': unknown key (use agency, description, layout, name, regimes)"
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(False, "no such folder of source declarations", id="no_folder"),
        pytest.param(True, "no source declarations (*.yaml)", id="empty_folder"),
    ],
)
def test_load_sources_folder_problems(tmp_path: Path, make: bool, message: str) -> None:
    folder = tmp_path / "sources"
    if make:
        folder.mkdir()
    with pytest.raises(DeclarationError) as raised:
        load_sources(folder)
    assert str(raised.value) == f"{folder}: {message}"


def test_the_projects_own_declarations_load() -> None:
    sources = load_sources(ROOT / "schemas" / "sources")
    assert {n: s.kind for n, s in sources.items()} == {
        "eastmoor": "mapped",
        "northshire": "mapped",
        "riverton": "ssda903_missing",
        "riverton_children": "la_children",
        "riverton_cme": "cme",
        "riverton_header": "ssda903_header",
        "southbay": "standard",
        "westvale": "mapped",
    }
    council = {n for n, s in sources.items() if s.agency == "riverton"}
    assert council == {"riverton", "riverton_children", "riverton_cme", "riverton_header"}
