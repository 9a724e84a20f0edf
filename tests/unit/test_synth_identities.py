"""Synthetic identities (pipelines.synth.identities): the same seed gives the same records,
the counts are as asked, each error kind hits its stated share, twins exist, and the truth
names the person behind every record."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from pipelines.identity.normalise import normalise_nhs_number, normalise_postcode, normalise_upn
from pipelines.synth import identities as ids
from pipelines.synth.record_errors import RATES

N_POLICE, N_COUNCIL, SEED = 20_000, 6_000, 1


@pytest.fixture(scope="module")
def drawn() -> ids.Draw:
    return ids.draw(N_POLICE, N_COUNCIL, SEED)


def test_same_seed_same_records(drawn: ids.Draw) -> None:
    again = ids.person_records(N_POLICE, N_COUNCIL, SEED)
    pd.testing.assert_frame_equal(again[0], drawn.records)
    pd.testing.assert_frame_equal(again[1], drawn.truth)
    other = ids.person_records(N_POLICE, N_COUNCIL, SEED + 1)[0]
    assert not other["forename"].equals(drawn.records["forename"])


def test_counts_by_source(drawn: ids.Draw) -> None:
    records = drawn.records
    assert list(records.columns) == list(ids.RECORD_COLUMNS)
    assert records["source"].value_counts().to_dict() == {
        "southbay": 9048,
        "northshire": 4248,
        "riverton_children": 3600,
        "eastmoor": 3403,
        "westvale": 3301,
        "riverton": 1800,
        "riverton_cme": 600,
    }
    assert records["record_id"].is_unique
    council = records["source"].isin(["riverton", "riverton_children", "riverton_cme"])
    assert set(records.loc[council, "agency"]) == {"riverton"}
    assert (records.loc[~council, "agency"] == records.loc[~council, "source"]).all()


@pytest.mark.parametrize(
    ("kind", "count"),
    [
        ("forename_blank", 242),
        ("forename_placeholder", 120),
        ("nickname", 1173),
        ("transliteration", 3619),
        ("forename_typo", 381),
        ("surname_blank", 242),
        ("surname_change", 958),
        ("surname_spelling", 1244),
        ("surname_typo", 435),
        ("dob_swap", 276),
        ("dob_off_by_one", 257),
        ("moved", 2420),
        ("postcode_blank", 871),
        ("postcode_placeholder", 105),
        ("postcode_format", 2322),
        ("upn_placeholder", 276),
        ("nhs_typo", 19),
        ("second_reference", 322),
    ],
)
def test_error_kind_count(drawn: ids.Draw, kind: str, count: int) -> None:
    assert int(drawn.errors[kind].sum()) == count


def test_error_rates_among_eligible(drawn: ids.Draw) -> None:
    records, errors = drawn.records, drawn.errors
    forenames = int(records["forename"].notna().sum() + errors["forename_blank"].sum())
    assert errors["forename_blank"].sum() == round(RATES["forename_blank"] * forenames)
    postcodes = int(records["postcode"].notna().sum() + errors["postcode_blank"].sum())
    assert errors["moved"].sum() == round(RATES["moved"] * postcodes)
    assert errors["upn_placeholder"].sum() == round(
        RATES["upn_placeholder"] * records["upn"].notna().sum()
    )
    assert errors["nhs_typo"].sum() == round(
        RATES["nhs_typo"] * records["nhs_number"].notna().sum()
    )


def test_error_values(drawn: ids.Draw) -> None:
    records, errors = drawn.records, drawn.errors
    assert set(records.loc[errors["upn_placeholder"], "upn"]) == {"UN2"}
    upns = records.loc[records["upn"].notna() & ~errors["upn_placeholder"], "upn"]
    assert upns.map(lambda u: bool(re.fullmatch(r"[A-Z]\d{12}", u))).all()
    assert upns.map(normalise_upn).notna().all()
    nhs = records.loc[records["nhs_number"].notna(), "nhs_number"].map(normalise_nhs_number)
    assert int(nhs.isna().sum()) == int(errors["nhs_typo"].sum())
    placeholders = records.loc[errors["postcode_placeholder"], "postcode"]
    assert placeholders.map(normalise_postcode).isna().all()
    well_formed = records.loc[records["postcode"].notna() & ~errors["postcode_placeholder"]]
    assert well_formed["postcode"].map(normalise_postcode).notna().all()
    swapped = records.loc[errors["dob_swap"], "date_of_birth"]
    assert (swapped.dt.day <= 12).all()


def test_twins_share_surname_birth_and_home_but_not_forename(drawn: ids.Draw) -> None:
    people = drawn.people
    twins = people.index[people["twin_of"] >= 0]
    assert len(twins) == 334
    other = people.loc[twins, "twin_of"].to_numpy()
    assert (
        people.loc[twins, "date_of_birth"].to_numpy() == people.loc[other, "date_of_birth"]
    ).all()
    # In the records: pairs in one force with surname, date of birth and postcode in common,
    # different forenames, and different true persons.
    records = drawn.records.merge(drawn.truth, on="record_id")
    key = ["source", "surname", "date_of_birth", "postcode"]
    clean = records.dropna(subset=key + ["forename"])
    pairs = clean.merge(clean, on=key)
    pairs = pairs[(pairs["true_person_x"] < pairs["true_person_y"])]
    assert (pairs["forename_x"] != pairs["forename_y"]).all()
    assert len(pairs) > 20


def test_truth_covers_every_record(drawn: ids.Draw) -> None:
    truth = drawn.truth
    assert truth["record_id"].tolist() == drawn.records["record_id"].tolist()
    assert truth["true_person"].notna().all()
    assert truth["true_person"].nunique() == len(drawn.people) == 16728


def test_cross_references_point_at_the_same_child(drawn: ids.Draw) -> None:
    records = drawn.records.merge(drawn.truth, on="record_id")
    person = dict(zip(records["person_ref"], records["true_person"], strict=False))
    with_la = records[records["la_child_ref"].notna()]
    with_police = records[records["police_ref"].notna()]
    assert (len(with_la), len(with_police)) == (1367, 1080)
    assert (with_la["la_child_ref"].map(person) == with_la["true_person"]).all()
    assert (with_police["police_ref"].map(person) == with_police["true_person"]).all()
    assert set(with_police["source"]) == {"riverton_children"}
    council = records[records["agency"] == "riverton"]
    assert council.groupby("person_ref")["true_person"].nunique().max() == 1
