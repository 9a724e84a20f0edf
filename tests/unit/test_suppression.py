"""Disclosure control: small counts hidden, and never recoverable from the totals printed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.briefing.suppression import (
    TOTAL,
    add_totals,
    format_count,
    format_percent,
    format_share,
    hide_small,
    suppress_counts,
)


def frame(rows: list[list[int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, index=list("xyz")[: len(rows)], columns=list("abcd")[: len(rows[0])])


def expected(rows: list[list[str]]) -> pd.DataFrame:
    index, columns = [*"xyz"[: len(rows) - 1], TOTAL], [*"abcd"[: len(rows[0]) - 1], TOTAL]
    return pd.DataFrame(rows, index=index, columns=columns, dtype=object)


def assert_protected(true: pd.DataFrame, shown: pd.DataFrame) -> None:
    """No hidden cell equals its line's total minus the visible cells of that line, and no
    hidden total equals the sum of its line; every visible cell is the true value."""
    values = add_totals(true).to_numpy()
    hidden = shown.to_numpy() == "c"
    n_rows, n_cols = values.shape
    lines = [[(i, j) for j in range(n_cols)] for i in range(n_rows)]
    lines += [[(i, j) for i in range(n_rows)] for j in range(n_cols)]
    for line in lines:
        *cells, total = line
        visible_sum = sum(values[c] for c in cells if not hidden[c])
        if hidden[total]:
            assert any(hidden[c] for c in cells), f"total {total} is the sum of visible cells"
            continue
        for c in cells:
            if hidden[c]:
                assert values[total] - visible_sum != values[c], f"{c} recoverable along {line}"
    for (i, j), text in np.ndenumerate(shown.to_numpy()):
        assert text == "c" or int(text.replace(",", "")) == values[i, j]
        assert text != "c" or values[i, j] != 0, "zeros are never hidden"


def test_counts_of_one_to_four_show_as_c() -> None:
    assert [format_count(n) for n in [0, 1, 2, 3, 4, 5, 1234]] == [
        *["0", "c", "c", "c", "c"],
        *["5", "1,234"],
    ]
    assert format_count(None) == "z"
    assert format_count(float("nan")) == "z"


def test_percentages_mark_k_z_and_small_parts() -> None:
    assert format_percent(50, 100) == "50%"
    assert format_percent(5, 40) == "13%"  # 12.5 rounds half up, as readers expect
    assert format_percent(5, 10_000) == "k"  # 0.05% is not nothing
    assert format_percent(5, 10_000, 2) == "0.05%"
    assert format_percent(0, 10) == "0%"
    assert format_percent(0, 0) == "z"
    assert format_percent(3, 0) == "z"
    assert format_percent(None, 10) == "z"
    assert format_percent(3, 50) == "c"  # small numerator
    assert format_percent(97, 100) == "c"  # small remainder: 3 children left out
    assert format_percent(97, 100, protect_complement=False) == "97%"
    assert format_percent(10, 10) == "100%"
    assert format_share("c", 40, 100) == "c"
    assert format_share("40", 40, 100) == "40%"


def test_one_small_cell_in_a_row_hides_a_rectangle() -> None:
    true = frame([[10, 3, 20], [12, 15, 9], [7, 8, 11]])
    shown = suppress_counts(true, True)
    assert shown.equals(
        expected(
            [
                ["c", "c", "20", "33"],
                ["12", "15", "9", "36"],
                ["c", "c", "11", "26"],
                ["29", "26", "40", "95"],
            ]
        )
    )
    assert_protected(true, shown)


def test_two_small_cells_in_a_row_and_in_a_column() -> None:
    true = frame([[2, 3, 20], [12, 1, 9], [7, 8, 11]])
    shown = suppress_counts(true, True)
    assert shown.equals(
        expected(
            [
                ["c", "c", "20", "25"],
                ["12", "c", "c", "22"],
                ["c", "8", "c", "26"],
                ["21", "12", "40", "73"],
            ]
        )
    )
    assert_protected(true, shown)


def test_a_small_total_is_hidden_and_protected() -> None:
    true = frame([[1, 2, 0], [10, 12, 9], [7, 8, 11]])
    shown = suppress_counts(true, True)
    assert shown.equals(
        expected(
            [
                ["c", "c", "0", "c"],
                ["10", "12", "9", "31"],
                ["c", "c", "11", "c"],
                ["18", "22", "20", "60"],
            ]
        )
    )
    assert_protected(true, shown)


def test_one_way_with_a_total_row() -> None:
    true = pd.DataFrame({"n": [30, 3, 12, 0]}, index=list("abcd"))
    shown = suppress_counts(true, True, row_totals=False)
    assert list(shown["n"]) == ["30", "c", "c", "0", "45"]
    assert list(shown.index) == [*"abcd", TOTAL]


def test_row_totals_only_protects_each_row() -> None:
    true = frame([[20, 9, 2, 6], [18, 9, 0, 1]])
    shown = suppress_counts(true, True, column_totals=False)
    assert shown.values.tolist() == [["20", "9", "c", "c", "37"], ["18", "c", "0", "c", "28"]]


def test_without_totals_only_small_cells_are_hidden() -> None:
    shown = suppress_counts(frame([[10, 3], [0, 5]]), False)
    assert shown.values.tolist() == [["10", "c"], ["0", "5"]]


def test_a_cell_hidden_elsewhere_is_hidden_here_and_protected() -> None:
    true = frame([[10, 30], [12, 15]])
    shown = suppress_counts(true, True, hide=[(TOTAL, "a")])
    assert shown.loc[TOTAL, "a"] == "c"
    hidden = shown == "c"
    assert int(hidden.loc[TOTAL].sum()) >= 2 and int(hidden["a"].sum()) >= 2


def test_missing_values_are_not_applicable() -> None:
    true = frame([[10.0, float("nan")], [12.0, 15.0]])
    assert suppress_counts(true, False).loc["x", "b"] == "z"


def test_hide_small_for_charts() -> None:
    assert hide_small(pd.Series([0, 3, 7])).isna().tolist() == [False, True, False]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 5).flatmap(
        lambda rows: st.integers(1, 5).flatmap(
            lambda cols: st.lists(
                st.lists(st.integers(0, 15), min_size=cols, max_size=cols),
                min_size=rows,
                max_size=rows,
            )
        )
    )
)
def test_any_table_is_protected(rows: list[list[int]]) -> None:
    true = pd.DataFrame(rows)
    shown = suppress_counts(true, True)
    assert_protected(true, shown)
    small = (add_totals(true) >= 1) & (add_totals(true) <= 4)
    assert (shown[small] == "c").sum().sum() == small.sum().sum()


@pytest.mark.parametrize("rows", [[[0, 0], [0, 0]], [[5, 6], [7, 8]]])
def test_nothing_to_hide(rows: list[list[int]]) -> None:
    assert "c" not in suppress_counts(frame(rows), True).to_numpy()
