"""A random SSDA903 Missing table for measuring the DfE rules at volume: no children's
histories behind it (that is `generator`), only the shape of a return and a mix of faults."""

from __future__ import annotations

import numpy as np
import pandas as pd


def random_missing_table(rows: int, seed: int = 0) -> pd.DataFrame:
    """`rows` rows as raw text: 20,000 children, starts across the year to 31 March 2025, a
    tenth still open, some codes lower case or blank."""
    rng = np.random.default_rng(seed)
    starts = pd.Timestamp("2024-04-01") + pd.to_timedelta(rng.integers(0, 365, rows), unit="D")
    ends = starts + pd.to_timedelta(rng.integers(0, 5, rows), unit="D")
    return pd.DataFrame(
        {
            "CHILD": [f"C{i:05d}" for i in rng.integers(0, 20_000, rows)],
            "DOB": "01/02/2010",
            "MISSING": rng.choice(["M", "A", "m", ""], rows),
            "MIS_START": starts.strftime("%d/%m/%Y"),
            "MIS_END": np.where(rng.random(rows) < 0.1, "", ends.strftime("%d/%m/%Y")),
        }
    )
