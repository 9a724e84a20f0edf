"""The one normalisation of identity values: a table of tiny cases per rule.

Every value here is made up; NHS numbers are from the 999 range set aside for testing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pyarrow as pa
import pytest

from pipelines.identity.capture import _date_of_birth
from pipelines.identity.normalise import (
    blank,
    normalise_name,
    normalise_nhs_number,
    normalise_postcode,
    normalise_ref,
    normalise_sex,
    normalise_upn,
)


def cases(rule: str, table: list[tuple[object, object]]) -> list:
    return [pytest.param(raw, want, id=f"{rule}:{raw!r}") for raw, want in table]


BLANKS = cases(
    "placeholders_are_null",
    [
        (None, None),
        (float("nan"), None),
        ("", None),
        ("   ", None),
        ("unknown", None),
        ("UNKNOWN", None),
        ("Not Known", None),
        ("n/k", None),
        ("N/A", None),
        ("none", None),
        ("tbc", None),
        ("-", None),
        ("?", None),
        (" Ann ", "Ann"),
    ],
)
NAMES = cases(
    "names",
    [
        ("zebediah", "ZEBEDIAH"),
        ("Zoë", "ZOE"),  # accents
        ("José", "JOSE"),
        ("Chloé-Renée", "CHLOE RENEE"),
        ("Łukasz", "LUKASZ"),  # a letter Unicode does not decompose
        ("Søren", "SOREN"),
        ("Anne-Marie", "ANNE MARIE"),  # hyphens
        ("Anne - Marie", "ANNE MARIE"),
        ("O'Brien", "O BRIEN"),  # apostrophes, straight and curly
        ("D\u2019Arcy", "D ARCY"),
        ("Quillfeather-Smythe", "QUILLFEATHER SMYTHE"),  # double-barrelled keeps both parts
        ("Quillfeather Smythe", "QUILLFEATHER SMYTHE"),
        ("  de la   Cruz ", "DE LA CRUZ"),  # spaces collapsed
        ("St. John", "ST JOHN"),  # other punctuation dropped
        ("Mary2", "MARY"),
        ("unknown", None),
        ("123", None),
        ("", None),
    ],
)
UPNS = cases(
    "upn",
    [
        ("A123456789012", "A123456789012"),
        ("a123456789012", "A123456789012"),
        (" A12 3456 789012 ", "A123456789012"),
        ("12345678901A", "12345678901A"),  # a temporary UPN
        ("UN1", None),  # UN1-UN5: not known, each saying why
        ("UN2", None),
        ("un3", None),
        ("UN4", None),
        ("UN5", None),
        ("UN6", None),  # not a placeholder, not a UPN either
        ("A12345678901", None),  # a digit short
        ("1234567890123", None),  # no letter
        ("unknown", None),
    ],
)
NHS_NUMBERS = cases(
    "nhs_number",
    [
        ("9990000018", "9990000018"),
        ("999 000 0018", "9990000018"),
        ("999-000-0018", "9990000018"),
        ("9990000017", None),  # check digit does not hold
        ("9990000026", "9990000026"),
        ("9990000025", None),
        ("0000000000", None),  # a placeholder, though its check digit holds
        ("9999999999", None),
        ("999999999", None),  # nine digits
        ("99900000180", None),  # eleven
        ("99900X0018", None),
        ("unknown", None),
    ],
)
POSTCODES = cases(
    "postcode",
    [
        ("AB1 2CD", "AB1 2CD"),
        ("ab12cd", "AB1 2CD"),  # spacing put right
        ("  ab1   2cd ", "AB1 2CD"),
        ("SW1A1AA", "SW1A 1AA"),
        ("m1 1ae", "M1 1AE"),
        ("B33 8TH", "B33 8TH"),
        ("CR2 6XH", "CR2 6XH"),
        ("12345", None),
        ("AB1", None),  # outward code alone
        ("n/k", None),
    ],
)
SEXES = cases(
    "sex",
    [
        ("1", "M"),  # SSDA903 codes
        ("2", "F"),
        ("M", "M"),
        ("f", "F"),
        ("Male", "M"),
        ("FEMALE", "F"),
        ("X", None),  # not evidence either way
        ("U", None),
        ("0", None),
        ("9", None),
        ("", None),
    ],
)
REFS = cases("cross_reference", [(" C123 ", "C123"), ("unknown", None), (None, None)])


@pytest.mark.parametrize(
    ("clean", "raw", "want"),
    [
        *[pytest.param(blank, *p.values, id=p.id) for p in BLANKS],
        *[pytest.param(normalise_name, *p.values, id=p.id) for p in NAMES],
        *[pytest.param(normalise_upn, *p.values, id=p.id) for p in UPNS],
        *[pytest.param(normalise_nhs_number, *p.values, id=p.id) for p in NHS_NUMBERS],
        *[pytest.param(normalise_postcode, *p.values, id=p.id) for p in POSTCODES],
        *[pytest.param(normalise_sex, *p.values, id=p.id) for p in SEXES],
        *[pytest.param(normalise_ref, *p.values, id=p.id) for p in REFS],
    ],
)
def test_normalisation_rule(clean: Callable[[object], object], raw: object, want: object) -> None:
    assert clean(raw) == want


DATES_OF_BIRTH = cases(
    "date_of_birth",
    [
        ("01/02/2010", date(2010, 2, 1)),  # dd/mm/yyyy, never month first
        ("2010-02-01", date(2010, 2, 1)),
        ("2010-02-01 00:00:00", date(2010, 2, 1)),  # a workbook's date cell
        ("31/02/2010", None),  # not a real date
        ("2010/02/01", None),
        ("unknown", None),
        ("", None),
        (None, None),
    ],
)


@pytest.mark.parametrize(("raw", "want"), DATES_OF_BIRTH)
def test_date_of_birth_rule(raw: str | None, want: date | None) -> None:
    # Three rows, so that each distinct value is parsed once and spread back in place.
    column = pa.chunked_array([pa.array([raw, "02/03/2011", raw], type=pa.string())])
    assert _date_of_birth(column).to_pylist() == [want, date(2011, 3, 2), want]
