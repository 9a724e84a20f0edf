"""The same fictional children across the generated sources (pipelines.synth.agencies): the
truth file names the person behind every record, the episodes are those drawn without
identities, cross-references and dates of birth agree as the truth says, twins exist, and
the council's files hang together."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.synth import alignment, council_files
from pipelines.synth import generator as synth
from pipelines.synth import layouts as sl

UNTIL = "2024-02"
POLICE_CSV = ("northshire", "westvale", "southbay")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("agencies")
    return base, synth.generate(base / "raw", seed=7, scale=0.3, until=UNTIL)


@pytest.fixture(scope="module")
def out(generated: tuple[Path, dict]) -> Path:
    return generated[0]


def _police(raw: Path, source: str) -> pd.DataFrame:
    """Every row of a force's files, its columns by field name."""
    layout = sl.POLICE_LAYOUTS[source]
    frames = []
    for path in sorted((raw / source).iterdir()):
        if layout.fmt == "xlsx":
            frame = pd.read_excel(path, sheet_name=layout.sheet, header=2, engine="calamine")
            frame = frame.astype(object).where(frame.notna(), None)
        else:
            frame = pd.read_csv(
                path,
                sep=layout.delimiter,
                encoding="utf-8-sig" if layout.bom else layout.encoding,
                dtype=str,
                keep_default_na=False,
            ).replace("", None)
        frames.append(frame.rename(columns={name: field for field, name in layout.columns}))
    frame = pd.concat(frames, ignore_index=True)
    if layout.fmt == "csv":
        frame["dob"] = pd.to_datetime(frame["date_of_birth"], format=layout.date_format)
    frame["source"] = source
    return frame


def _council(raw: Path, source: str) -> pd.DataFrame:
    files = sorted((raw / source).iterdir())
    return pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files])


def _truth(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / council_files.TRUTH_FILE, dtype=str)


def test_truth_sits_beside_the_raw_folder_and_names_every_loaded_record(
    generated: tuple[Path, dict],
) -> None:
    out, manifest = generated
    truth = _truth(out)
    assert list(truth.columns) == ["source", "person_ref", "true_person"]
    assert not list((out / "raw").rglob(council_files.TRUTH_FILE))
    assert not truth.duplicated(["source", "person_ref"]).any()
    written = [
        _police(out / "raw", s)[["source", "person_ref"]].dropna() for s in synth.POLICE_SOURCES
    ]
    for source, column in (
        ("riverton", "CHILD"),
        ("riverton_children", "person_ref"),
        ("riverton_header", "CHILD"),
        ("riverton_cme", "person_ref"),
    ):
        refs = _council(out / "raw", source)[column]
        written.append(pd.DataFrame({"source": source, "person_ref": refs}))
    records = pd.concat(written).drop_duplicates()
    assert set(map(tuple, truth[["source", "person_ref"]].to_numpy())) <= set(
        map(tuple, records.to_numpy())
    )
    # One row per child a source's files load (a child whose every row is quarantined has
    # no identity record); every row of the council's identity files loads.
    children = {source: info["children"] for source, info in manifest["sources"].items()}
    assert (
        truth["source"].value_counts().to_dict()
        == children
        == {
            "riverton_children": 625,
            "riverton_header": 440,
            "southbay": 299,
            "riverton": 373,
            "westvale": 77,
            "eastmoor": 39,
            "northshire": 74,
            "riverton_cme": 71,
        }
    )
    assert truth["true_person"].nunique() == 786


def test_episodes_are_those_drawn_without_the_other_sources(out: Path, tmp_path: Path) -> None:
    alone = synth.generate(tmp_path / "raw", seed=7, scale=0.3, until=UNTIL, sources=["westvale"])
    drawn = _police(tmp_path / "raw", "westvale")
    together = _police(out / "raw", "westvale")
    # The looked-after flags are the force's own, kept only where the council has a spell
    # of the child that day (pipelines.synth.alignment).
    episode = [f for f, _ in sl.WESTVALE.columns if f not in (*sl.IDENTITY_TEXT, "looked_after")]
    pd.testing.assert_frame_equal(drawn[episode], together[episode])
    flagged = together["looked_after"] == "Y"
    assert (drawn.loc[flagged, "looked_after"] == "Y").all() and flagged.sum() > 0
    manifest = synth.generate(tmp_path / "all" / "raw", seed=7, scale=0.3, until=UNTIL)
    assert alone["sources"]["westvale"] == manifest["sources"]["westvale"]


def test_cross_references_name_the_same_child(out: Path) -> None:
    truth = _truth(out).set_index(["source", "person_ref"])["true_person"]
    police = pd.concat([_police(out / "raw", s) for s in synth.POLICE_SOURCES])
    police = police.dropna(subset=["person_ref"]).drop_duplicates(["source", "person_ref"])
    # Only children whose rows load have identity records, and so truth.
    keys = zip(police["source"], police["person_ref"], strict=True)
    police = police[[key in truth.index for key in keys]]
    carried = police.dropna(subset=["la_child_ref"])
    # Every record of a child the council reports missing carries its id, and some others.
    assert len(carried) == 314
    child = [truth[("riverton_children", r)] for r in carried["la_child_ref"]]
    own = [truth[key] for key in zip(carried["source"], carried["person_ref"], strict=True)]
    assert child == own
    la = _council(out / "raw", "riverton_children")
    reported = la[la["police_ref"] != ""]
    assert len(reported) == 105
    refs = zip(police["source"], police["person_ref"], strict=True)
    police_person = {r: truth[(s, r)] for s, r in refs}
    assert [police_person[r] for r in reported["police_ref"]] == [
        truth[("riverton_children", r)] for r in reported["person_ref"]
    ]


def test_one_childs_dates_of_birth_agree_or_differ_as_records_do(out: Path) -> None:
    truth = _truth(out)
    police = pd.concat([_police(out / "raw", s) for s in POLICE_CSV]).dropna(subset=["person_ref"])
    # A child's date of birth as most of a source's rows give it (a few carry planted faults).
    usual = police.groupby(["source", "person_ref"])["dob"].agg(lambda d: d.mode().iloc[0])
    missing = _council(out / "raw", "riverton")
    missing["dob"] = pd.to_datetime(missing["DOB"], format="%d/%m/%Y")
    council = missing.groupby("CHILD")["dob"].agg(lambda d: d.mode().iloc[0])
    dob = pd.concat(
        [
            usual.reset_index(),
            council.rename_axis("person_ref").reset_index().assign(source="riverton"),
        ]
    )
    rows = truth.merge(dob, on=["source", "person_ref"])
    pairs = rows.merge(rows, on="true_person").query(
        "source_x < source_y or (source_x == source_y and person_ref_x < person_ref_y)"
    )
    same = pairs["dob_x"] == pairs["dob_y"]
    swapped = (pairs["dob_x"].dt.day == pairs["dob_y"].dt.month) & (
        pairs["dob_x"].dt.month == pairs["dob_y"].dt.day
    )
    one_day = (pairs["dob_y"] - pairs["dob_x"]).abs() == pd.Timedelta(days=1)
    assert (same | swapped | one_day).all()
    assert (int(same.sum()), int((swapped & ~same).sum()), int(one_day.sum())) == (276, 2, 7)


def test_twins_share_surname_birth_and_home_but_not_forename(out: Path) -> None:
    truth = _truth(out)
    la = _council(out / "raw", "riverton_children")
    la = la.merge(truth[truth["source"] == "riverton_children"], on="person_ref")
    key = ["surname", "date_of_birth", "postcode"]
    clean = la[(la[key] != "").all(axis=1)]
    pairs = clean.merge(clean, on=key).query("true_person_x < true_person_y")
    assert len(pairs) == 5
    assert (pairs["forename_x"] != pairs["forename_y"]).all()


def test_the_councils_files_hang_together(out: Path) -> None:
    raw = out / "raw"
    header = _council(raw, "riverton_header")
    missing = _council(raw, "riverton")
    la = _council(raw, "riverton_children")
    assert list(header.columns) == ["CHILD", "SEX", "DOB", "ETHNIC", "UPN"]
    assert set(header["SEX"]) == {"1", "2"}
    assert header["UPN"].str.fullmatch(r"[A-Z]\d{12}|UN[1-5]").all()
    # Every child missing from care is in a header, with its Missing table's date of birth.
    given = missing.groupby("CHILD")["DOB"].agg(set)
    assert set(given.index) <= set(header["CHILD"])
    first = header.groupby("CHILD")["DOB"].first()
    # All but six: each of those has only rows with a planted date of birth (586, adult).
    differ = [child for child, dobs in given.items() if first[child] not in dobs]
    assert len(differ) == 6
    assert (missing["CHILD"].isin(differ).groupby(missing["CHILD"]).sum()[differ] == 1).all()
    assert set(header["CHILD"]) <= set(la.loc[la["looked_after"] == "Y", "person_ref"])
    cme = _council(raw, "riverton_cme")
    assert list(cme.columns) == [
        *("person_ref", "forename", "surname", "date_of_birth", "upn", "postcode"),
        *("off_roll_on", "reason", "resolved_on"),
    ]
    age = (pd.to_datetime(cme["off_roll_on"]) - pd.to_datetime(cme["date_of_birth"])).dt.days
    assert age.between(5 * 365 - 3, 16 * 365.25 + 3).all()
    ended = cme[cme["resolved_on"] != ""]
    assert (ended["resolved_on"] > ended["off_roll_on"]).all()
    last = dt.date(2024, 2, 29).isoformat()
    assert (cme["off_roll_on"] <= last).all() and (ended["resolved_on"] <= last).all()
    assert np.isin(la["sex"].unique(), ["M", "F", "X", "U"]).all()


def _report_days(raw: Path) -> pd.DataFrame:
    """Every police row: source, episode_ref, person_ref, the day reported, flagged looked after."""
    frames = []
    for source in synth.POLICE_SOURCES:
        layout = sl.POLICE_LAYOUTS[source]
        rows = _police(raw, source).dropna(subset=["person_ref"])
        # A spreadsheet's cells are times already (a planted impossible one is text).
        cells = rows["reported_at"]
        stamped = cells.map(lambda v: isinstance(v, dt.datetime))
        text = cells.where(~stamped).astype(str)
        reported = pd.to_datetime(text, format=layout.datetime_format, errors="coerce")
        reported = reported.where(~stamped, pd.to_datetime(cells.where(stamped)))
        yes = layout.labels["looked_after"][1]
        frames.append(
            rows[["source", "episode_ref", "person_ref"]].assign(
                day=reported.dt.strftime("%d/%m/%Y"), flagged=rows["looked_after"] == yes
            )
        )
    return pd.concat(frames, ignore_index=True).dropna(subset=["day"])


def test_linked_childrens_records_agree_across_agencies_but_for_the_planted_gaps(
    generated: tuple[Path, dict],
) -> None:
    out, manifest = generated
    truth = _truth(out).set_index(["source", "person_ref"])["true_person"]
    police = _report_days(out / "raw")
    police["person"] = [
        truth.get(k) for k in zip(police["source"], police["person_ref"], strict=True)
    ]
    rows = _council(out / "raw", "riverton")
    rows["person"] = [truth.get(("riverton", c)) for c in rows["CHILD"]]
    council = rows[rows["MISSING"].str.upper() == "M"]
    gaps = manifest["reconciliation_gaps"]
    planted = {kind: [g for g in gaps if g["kind"] == kind] for kind in alignment.KINDS}
    # Five of each kind planted; a planted report whose every row is quarantined is no gap.
    assert [len(planted[kind]) for kind in alignment.KINDS] == [5, 5, 4]
    # Every missing spell starts on a day the police reported the child, but the planted ones.
    reported = set(zip(police["person"], police["day"], strict=True))
    alone = [
        (p, d) not in reported for p, d in zip(council["person"], council["MIS_START"], strict=True)
    ]
    assert set(zip(council["CHILD"][alone], council["MIS_START"][alone], strict=True)) == {
        (g["council"]["child"], g["council"]["start"]) for g in planted[alignment.KINDS[0]]
    }
    # Every report flagged looked after is of a day the council has a spell, but the planted.
    spells = set(zip(council["person"], council["MIS_START"], strict=True))
    flagged = police[police["flagged"]]
    off = np.array(
        [(p, d) not in spells for p, d in zip(flagged["person"], flagged["day"], strict=True)]
    )
    # (A report whose every row is quarantined leaves the council's spell that day away.)
    away = rows[rows["MISSING"] == "A"]
    lost = set(zip(away["person"], away["MIS_START"], strict=True))
    off &= np.array(
        [(p, d) not in lost for p, d in zip(flagged["person"], flagged["day"], strict=True)]
    )
    unmatched = set(zip(flagged["source"][off], flagged["episode_ref"][off], strict=True))
    assert len(unmatched) == 2 * alignment.PLANTED_PER_KIND
    assert unmatched >= {
        (g["police"]["source"], g["police"]["episode_ref"])
        for kind in alignment.KINDS[1:]
        for g in planted[kind]
    }
