"""Tests for pipelines.ingest.dfe_rules: the DfE SSDA903 Missing-table rules.

Each rule has a table of tiny cases asserting the exact set of (rule, row_number) findings, so
a case fails if a rule fires too often as well as too rarely. The default row is clean for the
2024_25 collection year (1 April 2024 to 31 March 2025). The fixture tests at the end compare
with findings recorded from the real validator (tests/fixtures/ssda903/make_reference.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.ingest.dfe_rules import (
    COLUMNS,
    RULES,
    check_missing_table,
    parse_dfe_date,
    read_missing_csv,
)
from pipelines.synth.missing_table import random_missing_table

YEAR = 2025
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ssda903"
Finding = tuple[str, int]


def row(
    child: str | None = "C0001",
    dob: str | None = "01/01/2010",
    missing: str | None = "M",
    start: str | None = "01/05/2024",
    end: str | None = "02/05/2024",
) -> dict[str, str | None]:
    """One Missing row as raw text; None is blank."""
    return dict(zip(COLUMNS, (child, dob, missing, start, end), strict=True))


def findings_from(table: pd.DataFrame, year: int = YEAR) -> set[Finding]:
    """The (rule, row_number) pairs check_missing_table reports."""
    result = check_missing_table(table, year)
    return set(zip(result["rule"], result["row_number"].astype(int), strict=True))


def findings(rows: list[dict[str, str | None]], year: int = YEAR) -> set[Finding]:
    return findings_from(pd.DataFrame(rows, columns=list(COLUMNS)), year)


def case(case_id: str, rows: list[dict[str, str | None]], *expected: Finding):
    return pytest.param(rows, set(expected), id=case_id)


CASES = [
    # 1004: MIS_START blank or not a valid dd/mm/yyyy date
    case("1004-valid-start-ok", [row()]),
    case("1004-one-digit-day-and-month-ok", [row(start="1/5/2024", end="2/5/2024")]),
    case("1004-blank-row", [row(missing=None, start=None, end=None)], ("1004", 0)),
    case("1004-iso-date-invalid", [row(start="2024-05-01")], ("1004", 0)),
    case("1004-two-digit-year", [row(start="01/05/24")], ("1004", 0)),
    case("1004-impossible-day", [row(start="31/04/2024")], ("1004", 0)),
    case("1004-trailing-space", [row(start="01/05/2024 ")], ("1004", 0)),
    case("1004-na-text-is-not-blank", [row(start="NA", end=None)], ("1004", 0)),
    case("1004-now-is-not-a-date", [row(start="now", end=None)], ("1004", 0)),
    case("1004-before-1677-invalid", [row(start="01/01/1500")], ("1004", 0)),
    # 1005: MIS_END present and invalid
    case("1005-blank-end-ok", [row(end=None)]),
    case("1005-iso-end", [row(end="2024-05-02")], ("1005", 0)),
    case("1005-30-february", [row(end="30/02/2025")], ("1005", 0)),
    case("1005-after-2262-invalid", [row(end="12/04/2262")], ("1005", 0)),
    case("1005-11-04-2262-valid-so-571", [row(end="11/04/2262")], ("571", 0)),
    # 1006: MISSING present and, upper-cased, not M or A
    case("1006-m-ok", [row(missing="M"), row(missing="A", start="03/05/2024", end=None)]),
    case("1006-lowercase-m-ok", [row(missing="m")]),
    case("1006-lowercase-a-ok", [row(missing="a")]),
    case("1006-x-fails", [row(missing="X")], ("1006", 0)),
    case("1006-padded-m-fails", [row(missing=" M")], ("1006", 0)),
    case("1006-na-text-fails", [row(missing="NA")], ("1006", 0)),
    case("1006-blank-is-not-1006", [row(missing="", start=None, end=None)], ("1004", 0)),
    # 564: MISSING is M or A and MIS_START blank
    case("564-start-given-ok", [row(missing="a")]),
    case("564-m-blank-start", [row(start=None)], ("564", 0), ("1004", 0)),
    case("564-lowercase-a-blank-start", [row(missing="a", start=None)], ("564", 0), ("1004", 0)),
    case("564-x-blank-start-is-1006", [row(missing="X", start=None)], ("1006", 0), ("1004", 0)),
    # 565: MIS_START present and MISSING blank
    case("565-missing-given-ok", [row(end=None)]),
    case("565-start-without-missing", [row(missing=None, end=None)], ("565", 0)),
    case("565-empty-string-is-blank", [row(missing="", end=None)], ("565", 0)),
    case("565-nan-is-blank", [row(missing=np.nan, end=None)], ("565", 0)),
    case(
        "565-invalid-start-counts",
        [row(missing=None, start="soon", end=None)],
        ("565", 0),
        ("1004", 0),
    ),
    # 566: MIS_END present and MISSING blank
    case("566-no-end-ok", [row(missing=None, start=None, end=None)], ("1004", 0)),
    case("566-end-without-missing", [row(missing=None, start=None)], ("566", 0), ("1004", 0)),
    case("566-with-565", [row(missing=None)], ("565", 0), ("566", 0)),
    # 567: MIS_END before MIS_START (same day is fine)
    case("567-same-day-ok", [row(start="02/05/2024", end="02/05/2024")]),
    case("567-end-before-start", [row(start="03/05/2024", end="02/05/2024")], ("567", 0)),
    case("567-invalid-end-is-1005-only", [row(start="03/05/2024", end="bad")], ("1005", 0)),
    # 570: MIS_START after 31 March of the collection year
    case("570-31-march-ok", [row(start="31/03/2025", end=None)]),
    case("570-start-before-year-ok", [row(start="15/03/2024", end=None)]),
    case("570-1-april-fails", [row(start="01/04/2025", end=None)], ("570", 0)),
    # 571: MIS_END before 1 April or after 31 March of the collection year
    case("571-1-april-ok", [row(start="01/04/2024", end="01/04/2024")]),
    case("571-31-march-ok", [row(start="30/03/2025", end="31/03/2025")]),
    case("571-31-march-before-fails", [row(start="30/03/2024", end="31/03/2024")], ("571", 0)),
    case("571-1-april-after-fails", [row(start="31/03/2025", end="01/04/2025")], ("571", 0)),
    # 574: per child, ordered by end (start where open) then start; clash with the previous one
    case(
        "574-overlap-flags-later-only",
        [row(start="01/05/2024", end="10/05/2024"), row(start="08/05/2024", end="12/05/2024")],
        ("574", 1),
    ),
    case(
        "574-overlap-in-reverse-file-order",
        [row(start="08/05/2024", end="12/05/2024"), row(start="01/05/2024", end="10/05/2024")],
        ("574", 0),
    ),
    case(
        "574-back-to-back-ok",
        [row(start="01/05/2024", end="05/05/2024"), row(start="05/05/2024", end="07/05/2024")],
    ),
    case(
        "574-new-period-while-previous-open",
        [row(start="01/05/2024", end=None), row(start="10/05/2024", end="12/05/2024")],
        ("574", 1),
    ),
    case(
        "574-two-open-periods-flags-later",
        [row(start="10/05/2024", end=None), row(start="01/05/2024", end=None)],
        ("574", 0),
    ),
    case(
        "574-open-after-closed-ok",
        [row(start="01/05/2024", end="03/05/2024"), row(start="10/05/2024", end=None)],
    ),
    case(
        "574-contained-period-flags-the-longer",
        [row(start="01/05/2024", end="20/05/2024"), row(start="05/05/2024", end="08/05/2024")],
        ("574", 0),
    ),
    case(
        "574-compares-with-previous-by-end-only",
        [
            row(start="01/05/2024", end="30/05/2024"),
            row(start="02/05/2024", end="03/05/2024"),
            row(start="10/05/2024", end="12/05/2024"),
        ],
        ("574", 0),
    ),
    case("574-duplicate-rows-flag-second", [row(), row()], ("574", 1)),
    case(
        "574-other-child-ok",
        [row(end="10/05/2024"), row(child="C0002", start="05/05/2024", end="08/05/2024")],
    ),
    case(
        "574-child-id-case-insensitive",
        [row(child="c0001", end="10/05/2024"), row(start="05/05/2024", end="12/05/2024")],
        ("574", 1),
    ),
    case(
        "574-invalid-end-counts-as-open",
        [row(end="2024-05-03"), row(start="10/05/2024", end="12/05/2024")],
        ("1005", 0),
        ("574", 1),
    ),
    case("574-blank-child-never", [row(child=None), row(child=None)]),
    # 586: MIS_START on or before DOB
    case("586-start-after-dob-ok", [row(dob="30/04/2024")]),
    case("586-start-equal-dob-fails", [row(dob="01/05/2024")], ("586", 0)),
    case("586-start-before-dob-fails", [row(dob="10/05/2024")], ("586", 0)),
    case("586-invalid-dob-silent", [row(dob="2010-01-01")]),
    case(
        "586-blank-start-silent",
        [row(dob="01/05/2024", missing=None, start=None, end=None)],
        ("1004", 0),
    ),
]


@pytest.mark.parametrize(("rows", "expected"), CASES)
def test_rule_cases(rows: list[dict[str, str | None]], expected: set[Finding]) -> None:
    assert findings(rows) == expected


def test_every_rule_has_passing_and_failing_cases() -> None:
    ids = [p.id for p in CASES]
    for code in RULES:
        named = [i for i in ids if i.split("-")[0] == code]
        failing = [p for p in CASES if p.id in named and any(f[0] == code for f in p.values[1])]
        assert failing, code
        assert len(named) > len(failing), code


def test_output_shape_order_severity_and_message() -> None:
    table = pd.DataFrame(
        [
            row(missing="X", start="14/01/2020", end="12/01/2020"),
            row(child="C0002", missing=None, start=None, end=None),
        ]
    )
    result = check_missing_table(table, 2020)
    assert list(result.columns) == ["rule", "row_number", "severity", "message"]
    assert result["row_number"].dtype == "int64"
    assert list(zip(result["rule"], result["row_number"], strict=True)) == [
        ("1006", 0),
        ("567", 0),
        ("1004", 1),
    ]
    assert list(result["severity"]) == ["error", "error", "error"]
    # Findings are published: the column and the rule, never the row's values.
    assert result["message"][1] == "MIS_END is before MIS_START"
    assert result["message"][0] == "MISSING is not M or A"
    assert result["message"][2] == "MIS_START is blank"


def test_severities() -> None:
    errors = {"1004", "1005", "1006", "564", "565", "566", "567", "586"}
    assert {code for code, (severity, _) in RULES.items() if severity == "error"} == errors
    assert {code for code, (severity, _) in RULES.items() if severity == "warning"} == {
        "570",
        "571",
        "574",
    }


def test_574_message_names_previous_row() -> None:
    table = pd.DataFrame([row(end=None), row(start="10/05/2024", end="12/05/2024")])
    (message,) = check_missing_table(table, YEAR)["message"]
    assert message == (
        "MIS_START clashes with the child's previous period (row 0), which has no valid MIS_END"
    )
    # Ordered by end, row 1 comes first and row 0 (01/05 to 20/05) clashes with it.
    table = pd.DataFrame([row(end="20/05/2024"), row(start="10/05/2024", end="12/05/2024")])
    (message,) = check_missing_table(table, YEAR)["message"]
    assert message == (
        "MIS_START clashes with the child's previous period (row 1), "
        "which ends after this MIS_START"
    )


def test_empty_table_and_input_untouched() -> None:
    empty = check_missing_table(pd.DataFrame(columns=list(COLUMNS)), YEAR)
    assert empty.empty and list(empty.columns) == ["rule", "row_number", "severity", "message"]
    table = pd.DataFrame([row(missing="m"), row(start="bad")])
    before = table.copy()
    check_missing_table(table, YEAR)
    pd.testing.assert_frame_equal(table, before)


def test_row_numbers_come_from_the_index() -> None:
    table = pd.DataFrame(
        [row(), row(child="C0002", missing="X"), row(start=None, missing=None, end=None)]
    )
    assert findings_from(table) == {("1006", 1), ("1004", 2)}
    assert findings_from(table.iloc[1:]) == {("1006", 1), ("1004", 2)}


def test_missing_columns_rejected() -> None:
    with pytest.raises(ValueError, match="MIS_END"):
        check_missing_table(pd.DataFrame(columns=["CHILD", "DOB", "MISSING", "MIS_START"]), YEAR)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("01/04/2024", "2024-04-01"),
        ("1/4/2024", "2024-04-01"),
        (" 1/04/2024", "2024-04-01"),
        ("29/02/2024", "2024-02-29"),
        ("22/09/1677", "1677-09-22"),
        ("11/04/2262", "2262-04-11"),
        ("29/02/2023", None),
        ("2024-04-01", None),
        ("01/04/24", None),
        ("01/04/2024 ", None),
        ("01/04/2024\n", None),
        ("21/09/1677", None),
        ("12/04/2262", None),
        ("01-04-2024", None),
        ("now", None),
        ("", None),
        (None, None),
        (np.nan, None),
    ],
)
def test_parse_dfe_date(text: str | None, expected: str | None) -> None:
    parsed = parse_dfe_date(pd.Series([text, "02/01/2020"], dtype=object))
    assert parsed.dtype == "datetime64[ns]"
    assert parsed[1] == pd.Timestamp("2020-01-02")
    if expected is None:
        assert pd.isna(parsed[0])
    else:
        assert parsed[0] == pd.Timestamp(expected)


def test_read_missing_csv_keeps_text_like_the_validator(tmp_path: Path) -> None:
    path = tmp_path / "missing.csv"
    path.write_text(
        "MISSING,CHILD,DOB,MIS_START,MIS_END\n m,c1,01/01/2010,NA,\n\n,,,,\n", encoding="utf-8"
    )
    table = read_missing_csv(path)
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == 2  # the blank line is not a data row
    assert table.loc[0, "MISSING"] == " m" and table.loc[0, "MIS_START"] == "NA"
    assert table.loc[1].isna().all() and pd.isna(table.loc[0, "MIS_END"])


def test_100k_rows_are_checked() -> None:
    """A large random table is checked whole. (How fast is the benchmark's `dfe_rules` figure,
    measured on the same table: a test machine's speed says nothing about the code.)"""
    n = 100_000
    table = random_missing_table(n)
    result = check_missing_table(table, YEAR)
    # Blank codes (565, 566), ends after 31 March (571) and clashes per child (574), counted
    # once and pinned: a change in any rule at volume shows here.
    assert result["rule"].value_counts().sort_index().to_dict() == {
        "565": 24985,
        "566": 22447,
        "571": 465,
        "574": 9762,
    }
    assert result["row_number"].between(0, n - 1).all()


FIXTURE_STEMS = sorted(
    p.name.removesuffix(".expected.csv") for p in FIXTURES.glob("*.expected.csv")
)


def test_fixtures_present() -> None:
    assert len(FIXTURE_STEMS) >= 2


@pytest.mark.parametrize("stem", FIXTURE_STEMS)
def test_parity_with_validator(stem: str) -> None:
    """Same (rule, row_number) set as csc-validator-be-903 0.1.17 on the same file."""
    year_end = int(stem[-7:-3]) + 1  # ..._2023_24 -> 2024
    table = read_missing_csv(FIXTURES / f"{stem}.csv")
    expected = pd.read_csv(FIXTURES / f"{stem}.expected.csv", dtype={"rule": str})
    assert 40 <= len(table) <= 80
    assert set(expected["rule"]) == set(RULES)  # every rule planted in every fixture
    want = set(zip(expected["rule"], expected["row_number"].astype(int), strict=True))
    assert findings_from(table, year_end) == want


@pytest.mark.parametrize("stem", FIXTURE_STEMS)
def test_messages_quote_no_value_of_the_row(stem: str) -> None:
    """Findings are published: no child reference, date of birth or date of the row (or of
    the row it clashes with) appears in a message, only the column and the rule."""
    table = read_missing_csv(FIXTURES / f"{stem}.csv")
    year_end = int(stem[-7:-3]) + 1
    found = check_missing_table(table, year_end)
    assert not found.empty
    for rule, number, message in zip(
        found["rule"], found["row_number"], found["message"], strict=True
    ):
        # The collection year's own bounds are no value of the row.
        own = {f"31/03/{year_end}", f"01/04/{year_end - 1}"}
        values = {str(v) for v in table.iloc[number].dropna() if len(str(v).strip()) > 2} - own
        assert not [v for v in values if v in message], (rule, number, message)
