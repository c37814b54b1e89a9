"""The Markdown tables of the evaluation's report code (shared with the Tiny ImageNet study)."""

import pytest

from hide_and_seek_tf.evaluation.report import markdown_table, mean_std_cell, number_cell
from hide_and_seek_tf.evaluation.stats import seed_stats


def test_a_table_has_a_header_a_rule_per_column_alignment_and_a_line_per_row():
    table = markdown_table(["model", "area", "top-1"], [["GAP", "[0, 0.25)", 58.7]], align="llr")
    assert table.splitlines() == [
        "| model | area | top-1 |",
        "|---|---|---:|",
        "| GAP | [0, 0.25) | 58.7 |",
    ]


def test_by_default_the_first_column_is_left_aligned_and_the_rest_right():
    assert markdown_table(["a", "b", "c"], []).splitlines()[1] == "|---|---:|---:|"


def test_a_row_with_a_missing_cell_is_refused_naming_the_row():
    with pytest.raises(ValueError, match=r"3 cells.*Received: row=\['GAP', 1\]"):
        markdown_table(["model", "a", "b"], [["GAP", 1]])
    with pytest.raises(ValueError, match="Received: align='lx'"):
        markdown_table(["model", "a"], [], align="lx")


def test_seed_statistics_read_mean_plus_minus_sample_std():
    assert mean_std_cell(seed_stats([1.0, 2.0, 3.0])) == "2.0 ± 1.0"
    assert mean_std_cell(seed_stats([-1.25]), digits=2, sign=True) == "-1.25"
    assert mean_std_cell(seed_stats([0.5, 1.5]), sign=True) == "+1.0 ± 0.7"
    assert mean_std_cell(seed_stats([])) == "-" and number_cell(None) == "-"
