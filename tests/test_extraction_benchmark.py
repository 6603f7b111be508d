"""The extraction benchmark's metrics (benchmarks/extraction_quality.py), on texts small
enough to count by hand."""

from __future__ import annotations

import pytest

from benchmarks.extraction_quality import Score, score, snippet_score


def test_shingle_score_averages_per_page_and_skips_empty_predictions_in_precision():
    truth = {"a": "one two three four five", "b": "six seven eight nine"}
    # Page a: 2 true shingles, predicted 3 of which 1 is true. Page b: nothing predicted.
    predicted = {"a": "one two three four ten eleven"}
    result = score(truth, predicted)
    assert result.precision == pytest.approx(1 / 3)  # page b has no prediction: not averaged
    assert result.recall == pytest.approx((1 / 2 + 0) / 2)


def test_snippet_score_counts_over_all_pages_with_whitespace_collapsed():
    expected = {
        "https://a.example/1": {"file": "a", "with": ["red  fox", "blue"], "without": ["menu"]},
        "https://a.example/2": {"file": "a", "with": ["green"], "without": []},
        "https://b.example/": {"file": "b", "with": ["owl"], "without": ["footer", "ads"]},
    }
    predicted = {"a": "the red\nfox and the menu", "b": "owl footer"}
    result = snippet_score(expected, predicted)
    # Found: "red fox", "owl" (2); missed: "blue", "green" (2); wrongly kept: "menu", "footer".
    assert result == Score(precision=2 / 4, recall=2 / 4)
