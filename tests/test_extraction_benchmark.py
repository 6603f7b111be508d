"""The extraction benchmark's metrics (benchmarks/extraction_quality.py), on texts small
enough to count by hand."""

from __future__ import annotations

import pytest

from benchmarks.extraction_quality import Score, halves, score, snippet_score, worst_pages


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


def test_halves_split_by_file_and_keep_every_url_of_a_file_together():
    expected = {
        f"https://{n}.example/{k}": {"file": f"f{n}", "with": [], "without": []}
        for n in range(10)
        for k in range(2)
    }
    split = halves(expected)
    files = {half: {e["file"] for e in part.values()} for half, part in split.items()}
    assert len(files["tuning"]) == len(files["held-out"]) == 5
    assert not files["tuning"] & files["held-out"]
    assert sum(len(part) for part in split.values()) == len(expected)
    assert halves(expected) == split  # a fixed seed: the same split every run


def test_worst_pages_lists_the_most_wrong_first_with_their_snippets():
    expected = {
        "https://a.example/": {"file": "a", "with": ["fox"], "without": []},
        "https://b.example/": {"file": "b", "with": ["owl", "cat"], "without": ["menu"]},
    }
    lines = worst_pages(expected, {"a": "a fox", "b": "the menu"}, 1)
    assert lines[0].startswith("  b: 2/2 with-snippets missed, 1/1 without-snippets kept")
    assert lines[1:] == ["    missed: 'owl'", "    missed: 'cat'", "    kept:   'menu'"]
