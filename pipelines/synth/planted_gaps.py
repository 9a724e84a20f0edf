"""The planted reconciliation gaps as the manifest lists them (`reconciliation_gaps`): in the
references the files carry, so a test can find each one among the curated
`agency_reconciliation` rows (pipelines.synth.alignment says what each kind is and why).

A gap is listed only if the files load the records it needs: a planted police report whose
every row is quarantined is no gap. Each names, as the curated row does, the nearest record
of the other agency (by start, then the earlier, then the smaller id), or none.
"""

from __future__ import annotations

import numpy as np

from pipelines.synth import alignment as al
from pipelines.synth import identifiers as idf
from pipelines.synth import layouts as sl
from pipelines.synth.layouts import DAY


def episode_refs(source: str, ep: dict[str, np.ndarray], idx: np.ndarray) -> list[str]:
    """The police episode references of these episodes, as the force's files write them."""
    layout = sl.POLICE_LAYOUTS[source]
    assert layout.episode_ref is not None
    refs = layout.episode_ref(ep["episode_no"][idx], ep["report_year"][idx])
    return [str(r) for r in refs.to_pylist()]


def _stamp(minute: int) -> str:
    return str(np.datetime64(int(minute), "m")).replace("T", " ")


def _council(child: int, day: int) -> dict[str, str]:
    ref = str(idf.council_refs(np.array([child]))[0])
    start = sl.format_date(np.array([day]), "%d/%m/%Y").to_pylist()[0]
    return {"source": "riverton", "child": ref, "start": str(start)}


def _nearest_police(
    aligned: al.Aligned,
    police: dict[str, dict[str, np.ndarray]],
    kept: dict[str, np.ndarray],
    person: int,
    at: int,
) -> dict[str, str] | None:
    """The loaded police report of the person starting nearest `at` (minutes)."""
    found: list[tuple[int, int, str, str]] = []
    for source, ep in police.items():
        idx = np.intersect1d(np.flatnonzero(aligned.police_person[source] == person), kept[source])
        for e, ref in zip(idx.tolist(), episode_refs(source, ep, idx), strict=True):
            t = int(ep["reported_at"][e])
            found.append((abs(t - at), t, f"{source}:{ref}", ref))
    if not found:
        return None
    _, _, episode_id, ref = min(found)
    return {"source": episode_id.split(":", 1)[0], "episode_ref": ref}


def listed(
    aligned: al.Aligned,
    police: dict[str, dict[str, np.ndarray]],
    la: dict[str, np.ndarray],
    kept: dict[str, np.ndarray],
) -> list[dict]:
    """Every planted gap the files hold, ordered by kind and start."""
    gaps: list[dict] = []
    missing = la["away"] == 0
    for i in np.flatnonzero(missing & (la["planted"] == 1)).tolist():
        child, day = int(la["person_no"][i]), int(la["start"][i])
        c = int(np.searchsorted(aligned.council_number, child))
        at = day * DAY
        gaps.append(
            {
                "kind": al.KINDS[0],
                "started_at": _stamp(at),
                "council": _council(child, day),
                "police": _nearest_police(aligned, police, kept, aligned.council_person[c], at),
            }
        )
    for kind in al.KINDS[1:]:
        for source, e in aligned.planted.get(kind, []):
            if not np.isin(e, kept.get(source, [])):
                continue
            ep = police[source]
            at = int(ep["reported_at"][e])
            ref = episode_refs(source, ep, np.array([e]))[0]
            gap: dict = {
                "kind": kind,
                "started_at": _stamp(at),
                "council": None,
                "police": {"source": source, "episode_ref": ref},
            }
            person = aligned.police_person[source][e]
            known = np.flatnonzero(aligned.council_person == person)
            if kind == al.KINDS[1] and len(known):
                child = int(aligned.council_number[known[0]])
                starts = la["start"][missing & (la["person_no"] == child)]
                if len(starts):
                    best = min(starts.tolist(), key=lambda d: (abs(d * DAY - at), d))
                    gap["council"] = _council(child, best)
            gaps.append(gap)
    return sorted(gaps, key=lambda g: (al.KINDS.index(g["kind"]), g["started_at"]))
