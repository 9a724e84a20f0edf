"""The synthetic extracts: deterministic, in the declared layouts, calibrated, and with every
planted defect accounted for. The checks below re-read the files the way an ingest would
(via the source declarations), so the manifest is verified against the bytes, not itself."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import synth_standard_codes

from pipelines.synth import council_files
from pipelines.synth import generator as synth
from pipelines.synth import layouts as sl

UNTIL = "2025-06"
DECLARATIONS = Path(__file__).resolve().parents[2] / "schemas" / "sources"
STANDARD_CODES = synth_standard_codes()
DATETIMES = sl.DATETIME_FIELDS


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synth")
    return out, synth.generate(out, seed=42, scale=1.0, until=UNTIL)


def _declaration(source: str) -> dict:
    return yaml.safe_load((DECLARATIONS / f"{source}.yaml").read_text())


def _parse_times(values: pd.Series, fmt: str) -> pd.Series:
    """Datetime cells pass through; text is parsed with the source's format; rest is NaT."""
    is_stamp = values.map(lambda v: isinstance(v, (dt.datetime, pd.Timestamp)))
    parsed = pd.to_datetime(values.where(~is_stamp).astype("string"), format=fmt, errors="coerce")
    stamps = pd.to_datetime(values.where(is_stamp), errors="coerce")
    return stamps.where(is_stamp, parsed).astype("datetime64[us]")


def _read_standard(source: str, path: Path) -> pd.DataFrame:
    """One police file in standard names and codes, as the declaration describes it."""
    layout = sl.POLICE_LAYOUTS[source]
    if layout.fmt == "xlsx":
        raw = pd.read_excel(path, sheet_name=layout.sheet, header=2, engine="calamine")
        raw = raw.astype(object).where(raw.notna(), None)
        for col in raw.columns:
            raw[col] = raw[col].map(lambda v: str(v) if isinstance(v, (int, np.integer)) else v)
    else:
        raw = pd.read_csv(
            path,
            sep=layout.delimiter,
            encoding="utf-8-sig" if layout.bom else layout.encoding,
            dtype=str,
            keep_default_na=False,
        ).replace("", None)
    declared = _declaration(source)
    if declared["layout"] == "standard":
        columns = {field: field for field in (*STANDARD_CODES, *DATETIMES, "episode_ref")}
        columns |= {"person_ref": "person_ref", "date_of_birth": "date_of_birth"}
        codes = {f: {v: v for v in values} for f, values in STANDARD_CODES.items()}
    else:
        columns, codes = declared["layout"]["columns"], declared["layout"]["codes"]
    df = pd.DataFrame({field: raw[name] for field, name in columns.items()})
    for field, mapping in codes.items():
        if field in df:
            df[field + "_raw"] = df[field]
            df[field] = df[field].map(lambda v, m=mapping: None if pd.isna(v) else m.get(v, "?"))
    for field in DATETIMES:
        df[field] = _parse_times(df[field], layout.datetime_format)
    df["date_of_birth"] = _parse_times(df["date_of_birth"], layout.date_format)
    return df


def _police_verdicts(df: pd.DataFrame) -> tuple[pd.Series, pd.Series, dict[str, int]]:
    """The accounting the ingest implements: (quarantined, out of scope, warnings)."""
    rep, dob = df["reported_at"], df["date_of_birth"]
    birthday_passed = (rep.dt.month > dob.dt.month) | (
        (rep.dt.month == dob.dt.month) & (rep.dt.day >= dob.dt.day)
    )
    age = rep.dt.year - dob.dt.year - (~birthday_passed).astype(int)
    adult = (age >= 18).fillna(False).astype(bool)
    quarantined = (
        df["person_ref"].isna()
        | rep.isna()
        | (df["risk_grade"] == "?")
        | (df["returned_at"] < df["last_seen_at"])
        | (dob.dt.normalize() > rep.dt.normalize())
        | df["episode_ref"].duplicated(keep=False)
    ) & ~adult
    ok = ~quarantined & ~adult
    warnings = {
        "reported_after_return": int(
            (ok & (df["returned_at"] < rep) & (df["returned_at"] >= df["last_seen_at"])).sum()
        ),
        "last_seen_after_reported": int((ok & (df["last_seen_at"] > rep)).sum()),
    }
    return quarantined, adult, warnings


def _police_files(out: Path, source: str) -> list[Path]:
    files = sorted((out / source).iterdir())
    return [f for f in files if "history" in f.name] + [f for f in files if "history" not in f.name]


def test_manifest_accounting(run) -> None:
    out, manifest = run
    assert json.loads((out / "synth_manifest.json").read_text()) == manifest
    assert re.fullmatch(r"\d{4}-\d\d", manifest["until"])
    assert set(manifest["sources"]) == {*synth.SOURCES, *council_files.IDENTITY_SOURCES}
    budgeted = 0  # files big enough for one defect of every kind: the check below must run
    for source, info in manifest["sources"].items():
        assert sorted(info["files"]) == sorted(p.name for p in (out / source).iterdir())
        for name, f in info["files"].items():
            assert f["rows"] == f["loaded"] + f["quarantined"] + f["out_of_scope"], name
            assert f["quarantined"] <= 0.05 * f["rows"], name
            if source == "riverton" or source in council_files.IDENTITY_SOURCES:
                continue
            assert f["out_of_scope"] == f["defects"]["adult"]
            assert f["quarantined"] == sum(f["defects"].values()) - f["defects"]["adult"]
            planted = sum(f["defects"].values()) + sum(f["warnings"].values())
            assert planted <= 0.03 * f["rows"], name
            if f["rows"] < synth.MIN_ROWS_FOR_DEFECTS:
                assert planted == 0
            elif f["rows"] * synth.DEFECT_ROW_SHARE >= 10:  # budget for one of every kind
                assert all(f["defects"].values()) and all(f["warnings"].values())
                budgeted += 1
    assert budgeted > 0


@pytest.mark.parametrize("source", synth.POLICE_SOURCES)
def test_police_files_load_as_the_manifest_says(run, source: str) -> None:
    out, manifest = run
    info = manifest["sources"][source]
    episodes, children = set(), set()
    for path in _police_files(out, source):
        df = _read_standard(source, path)
        entry = info["files"][path.name]
        quarantined, adult, warnings = _police_verdicts(df)
        assert len(df) == entry["rows"]
        assert int(quarantined.sum()) == entry["quarantined"], path.name
        assert int(adult.sum()) == entry["out_of_scope"], path.name
        assert warnings == entry["warnings"], path.name
        loads = df[~quarantined & ~adult]
        # Apart from the planted bad grade, every code is a declared one.
        for field in STANDARD_CODES:
            if field in loads:
                assert not (loads[field] == "?").any(), (path.name, field)
        assert (loads["extracted_at"] == pd.Timestamp(entry["extracted_at"])).all()
        start, end = pd.Timestamp(synth.FIRST_DAY), pd.Timestamp("2025-07-01")
        for field in ("reported_at", "last_seen_at", "returned_at", "rhi_offered_at"):
            times = loads[field].dropna()
            assert times.between(start, end).all(), (path.name, field)
        episodes |= set(loads["episode_ref"])
        children |= set(loads["person_ref"])
    assert len(episodes) == info["episodes"] and len(children) == info["children"]


def _dfe_findings(df: pd.DataFrame, year: int) -> dict[str, list[int]]:
    """The DfE SSDA903 Missing-table validation rules, written independently of the generator."""
    year_start, year_end = pd.Timestamp(year, 4, 1), pd.Timestamp(year + 1, 3, 31)
    start = pd.to_datetime(df["MIS_START"], format="%d/%m/%Y", errors="coerce")
    end = pd.to_datetime(df["MIS_END"], format="%d/%m/%Y", errors="coerce")
    dob = pd.to_datetime(df["DOB"], format="%d/%m/%Y", errors="coerce")
    code = df["MISSING"].str.upper()
    found = {
        "1004": start.isna(),
        "1005": df["MIS_END"].notna() & end.isna(),
        "1006": code.notna() & ~code.isin(["M", "A"]),
        "564": code.isin(["M", "A"]) & df["MIS_START"].isna(),
        "565": df["MIS_START"].notna() & code.isna(),
        "566": df["MIS_END"].notna() & code.isna(),
        "567": end < start,
        "570": start > year_end,
        "571": (end < year_start) | (end > year_end),
        "586": start.notna() & (start <= dob),
    }
    spells = pd.DataFrame({"child": df["CHILD"], "start": start, "end": end})
    spells["key"] = end.fillna(start)
    spells = spells.sort_values(["child", "key", "start"], kind="stable")
    same = spells["child"] == spells["child"].shift()
    prev_end = spells["end"].shift()
    clash = same & (prev_end.isna() | (spells["start"] < prev_end))
    found["574"] = pd.Series(False, index=df.index)
    found["574"][clash[clash].index] = True
    return {
        rule: sorted(np.flatnonzero(mask).tolist()) for rule, mask in found.items() if mask.any()
    }


def test_ssda903_findings_are_exactly_the_planted_ones(run) -> None:
    out, manifest = run
    info = manifest["sources"]["riverton"]
    final = dt.date(2025, 6, 1)
    years = range(2012, final.year + (final.month >= 4))
    assert sorted(info["files"]) == [f"riverton_missing_{y}_{(y + 1) % 100:02d}.csv" for y in years]
    episodes, children = set(), set()
    for name, entry in info["files"].items():
        text = (out / "riverton" / name).read_text(encoding="utf-8")
        assert text.splitlines()[0] == "CHILD,DOB,MISSING,MIS_START,MIS_END"
        df = pd.read_csv(out / "riverton" / name, dtype=str, keep_default_na=False).replace(
            "", None
        )
        year = int(name[17:21])
        assert _dfe_findings(df, year) == entry["dfe_planted"], name
        start = pd.to_datetime(df["MIS_START"], format="%d/%m/%Y", errors="coerce")
        dob = pd.to_datetime(df["DOB"], format="%d/%m/%Y", errors="coerce")
        adult = (start - dob).dt.days >= 18 * 365.25
        errors = {r for r in entry["dfe_planted"] if r not in synth.SSDA903_WARNING_PLANTS}
        quarantined = np.zeros(len(df), bool)
        for rule in errors:
            quarantined[entry["dfe_planted"][rule]] = True
        assert (
            int(adult.sum()) == entry["out_of_scope"]
            and int(quarantined.sum()) == entry["quarantined"]
        )
        assert entry["rows"] == len(df)
        assert np.flatnonzero(df["MISSING"].eq("m")).tolist() == entry["lowercase_code_rows"]
        assert set(df["MISSING"].dropna()) <= {"M", "A", "m", "X"}
        loads = df[~quarantined & ~adult.to_numpy()]
        episodes |= set(zip(loads["CHILD"], loads["MIS_START"], strict=True))
        children |= set(loads["CHILD"])
        assert loads["CHILD"].str.fullmatch(r"RV\d{6}").all()
    assert len(episodes) == info["episodes"] and len(children) == info["children"]
    away = pd.concat(
        pd.read_csv(out / "riverton" / n, dtype=str)["MISSING"] for n in info["files"]
    ).eq("A")
    assert 0.09 < away.mean() < 0.15


def test_formats_are_as_declared(run) -> None:
    out, manifest = run
    north = next((out / "northshire").glob("*history*")).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        north.decode("utf-8")
    text = north.decode("cp1252")
    header = text.split("\r\n", 1)[0].split(";")
    assert header == [name for _, name in sl.NORTHSHIRE.columns]
    assert {"Forename", "Surname", "Home Address", "Circumstances"} <= set(header)
    assert "£" in text and "’" in text and re.search(r'"[^";]*\n[^";]*"', text)
    assert re.search(r"\d\d/\d\d/20\d\d \d\d:\d\d", text)

    west = next((out / "westvale").glob("*history*")).read_bytes()
    assert west.startswith(b"\xef\xbb\xbf")
    lines = west.decode("utf-8-sig").splitlines()
    assert lines[0].split("|") == [name for _, name in sl.WESTVALE.columns]
    assert re.search(r"\|20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\|", lines[1])

    south_file = next((out / "southbay").glob("*history*"))
    south = pd.read_csv(south_file, dtype=str)
    standard = [f for f, _ in sl.SOUTHBAY.columns if f not in (*sl.IDENTITY_TEXT, "address")]
    assert set(standard) == {
        *STANDARD_CODES,
        *DATETIMES,
        "episode_ref",
        "person_ref",
        "date_of_birth",
    }
    in_style = south["reported_at"].str.fullmatch(r"20\d\d-\d\d-\d\d \d\d:\d\d")
    assert in_style.mean() > 0.98
    # Every other planted bad date is "unknown"; the rest are impossible dates in the style.
    bad_dates = manifest["sources"]["southbay"]["files"][south_file.name]["defects"]["bad_date"]
    assert south.loc[~in_style, "reported_at"].tolist() == ["unknown"] * (bad_dates // 2)

    path = next((out / "eastmoor").glob("*history*"))
    sheet = pd.read_excel(path, sheet_name="Missing Episodes", header=2, engine="calamine")
    assert list(sheet.columns) == [name for _, name in sl.EASTMOOR.columns]
    top = pd.read_excel(
        path, sheet_name="Missing Episodes", header=None, nrows=2, engine="calamine"
    )
    assert "Eastmoor" in str(top.iloc[0, 0])
    cells = sheet["REPORT_DTTM"].dropna()
    as_text = cells.map(lambda v: isinstance(v, str))
    assert 0.02 < as_text.mean() < 0.09
    assert cells[~as_text].map(lambda v: isinstance(v, dt.datetime)).all()


def test_calibration(run) -> None:
    out, manifest = run
    frames = []
    for source in synth.POLICE_SOURCES:
        df = _read_standard(source, next((out / source).glob("*history*")))
        quarantined, adult, _ = _police_verdicts(df)
        frames.append(df[~quarantined & ~adult])
    eps = pd.concat(frames)
    assert 4000 < len(eps) < 6500
    since = eps["last_seen_at"].fillna(eps["reported_at"])
    hours = (eps["returned_at"] - since).dt.total_seconds().div(3600).dropna()
    assert abs((hours <= 24).mean() - 0.79) < 0.025
    assert abs((hours <= 48).mean() - 0.90) < 0.025
    assert (hours > 168).mean() < 0.02
    assert 0 < eps["returned_at"].isna().mean() < 0.01
    assert abs(eps["cse_flag"].eq("Y").mean() - 0.09) < 0.04
    assert abs(eps["looked_after"].eq("Y").mean() - 1 / 3) < 0.08
    lac_children = eps.groupby("person_ref")["looked_after"].first().eq("Y").mean()
    assert 0.14 < lac_children < 0.28
    in_care = eps[eps["looked_after"].eq("Y")]["missing_from"]
    assert in_care.isin(["foster", "residential"]).mean() > 0.9
    counts = eps.groupby("person_ref").size().sort_values(ascending=False)
    assert abs(1 - len(counts) / len(eps) - 0.65) < 0.05
    assert abs(counts.head(round(0.06 * len(counts))).sum() / len(eps) - 1 / 3) < 0.06
    age = (eps["reported_at"] - eps["date_of_birth"]).dt.days / 365.25
    assert age.between(10, 18).all() and (age >= 15).mean() > 0.5
    hour = eps["reported_at"].dt.hour
    assert hour.between(18, 23).mean() > 2 * hour.between(6, 11).mean()
    assert (
        eps["outcome"].dropna().isin(["returned", "found_by_police", "found_by_other"]).mean()
        > 0.95
    )
    back = eps[eps["returned_at"].notna()]
    offered = back["rhi_offered_at"].notna()
    assert offered.mean() > 0.6
    within = back["rhi_offered_at"] - back["returned_at"] <= pd.Timedelta(hours=72)
    assert within[offered].mean() > 0.75
    refs = {"northshire": r"NS-P\d{7}", "eastmoor": r"EM-N\d{7}", "westvale": r"WV-URN-\d{7}"}
    for source, pattern in refs.items():
        df = _read_standard(source, next((out / source).glob("*history*")))
        assert df["person_ref"].dropna().str.fullmatch(pattern).all()


def test_northshire_regimes(run) -> None:
    out, _ = run
    path = next((out / "northshire").glob("*history*"))
    df = _read_standard("northshire", path)
    df = df[df["reported_at"].notna()]
    year = df["reported_at"].dt.year
    before, in_2016, after = df[year < 2016], df[year == 2016], df[year >= 2017]
    assert set(before["category_raw"]) == {"MISSING"}
    assert set(before["risk_grade_raw"].dropna()) <= {"LOW", "MEDIUM", "HIGH", "SEVERE"}
    assert set(in_2016["category_raw"]) == {"MISSING", "ABSENT"}
    assert set(in_2016["initial_risk_grade_raw"]) == {"LOW", "MEDIUM", "HIGH"}
    absent = in_2016[in_2016["category_raw"] == "ABSENT"]
    assert (absent["risk_grade_raw"] == "HIGH").any()
    assert after["category_raw"].notna().all()
    nar = after["initial_risk_grade"].eq("no apparent risk").mean()
    assert 0.15 < nar < 0.35
    assert after["initial_risk_grade_raw"].eq("NO APPARENT RISK").any()


def test_nightlies_overlap_and_evolve(run) -> None:
    out, _ = run
    for source in synth.POLICE_SOURCES:
        nightly = [_read_standard(source, p) for p in _police_files(out, source)]
        assert len(nightly) == 1 + synth.NIGHTLY_FILES
        refs = [set(df["episode_ref"].dropna()) for df in nightly[1:]]
        assert any(a & b for a, b in zip(refs, refs[1:], strict=False))
        versions = pd.concat(nightly).sort_values("extracted_at", kind="stable")
        versions = versions[versions["episode_ref"].isin(set().union(*refs))]
        rank = versions["risk_grade"].map({g: i for i, g in enumerate(sl.GRADE)})
        # groupby().first() would skip blanks: take the first and last rows as they are.
        by_ref = versions.groupby("episode_ref")
        first = by_ref.head(1).set_index("episode_ref")
        last = by_ref.tail(1).set_index("episode_ref")
        closed_later = first["returned_at"].isna() & last["returned_at"].notna()
        assert closed_later.any(), source
        graded_up = rank.groupby(versions["episode_ref"]).agg(lambda r: r.iloc[-1] > r.iloc[0])
        assert graded_up.sum() >= 2, source
        # A category can only change once absences are recorded (national two-tier date).
        if source == "southbay" and versions["reported_at"].max() >= pd.Timestamp("2013-04-01"):
            to_missing = first["category"].eq("absent") & last["category"].eq("missing")
            assert to_missing.any()
