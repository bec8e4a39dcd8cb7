"""Abstention accuracy, expected calibration error and the selective accuracy/coverage area."""

from __future__ import annotations

import pytest

from eval.metrics_calibration import (
    abstention_accuracy,
    expected_calibration_error,
    reliability_bins,
    selective_auc,
    selective_curve,
)
from eval.metrics_latency import latency_stats, latency_summary


def test_abstention_accuracy():
    assert abstention_accuracy([True, False, True, True]) == 0.75
    assert abstention_accuracy([]) == 0.0


def test_ece_by_hand():
    pairs = [(0.9, True), (0.8, True), (0.3, False), (0.2, True)]
    # one answer per bin: gaps 0.1, 0.2, 0.3, 0.8 -> mean 0.35
    assert expected_calibration_error(pairs, bins=10) == pytest.approx(0.35)
    # a perfectly calibrated bin: confidence 0.5, half right
    assert expected_calibration_error([(0.5, True), (0.5, False)]) == pytest.approx(0.0)
    assert expected_calibration_error([]) == 0.0


def test_reliability_bins_put_one_in_the_last_bin_and_reject_bad_confidence():
    bins = reliability_bins([(1.0, True), (0.0, False)], bins=4)
    assert [b.count for b in bins] == [1, 0, 0, 1]
    assert bins[3].accuracy == 1.0 and bins[1].mean_confidence is None
    with pytest.raises(ValueError, match="confidence"):
        reliability_bins([(1.5, True)])


def test_selective_curve_answers_the_most_confident_first():
    pairs = [(0.2, True), (0.9, True), (0.3, False), (0.8, True)]
    assert selective_curve(pairs) == [(0.25, 1.0), (0.5, 1.0), (0.75, pytest.approx(2 / 3)),
                                      (1.0, 0.75)]
    assert selective_auc(pairs) == pytest.approx((1 + 1 + 2 / 3 + 0.75) / 4)


def test_ties_give_no_credit_for_a_lucky_order():
    assert selective_curve([(0.5, True), (0.5, False)])[0] == (0.5, 0.0)


def test_a_confidence_that_ranks_wrong_answers_first_has_a_lower_area():
    good = [(0.9, True), (0.1, False)]
    bad = [(0.1, True), (0.9, False)]
    assert selective_auc(good) > selective_auc(bad)


def test_latency_percentiles_skip_stages_that_never_ran():
    s = latency_stats([10, 20, 30, 40, 1000])
    assert (s.count, s.p50, s.max) == (5, 30.0, 1000.0)
    assert s.p95 == pytest.approx(40 + 0.8 * 960)  # numpy's linear interpolation
    assert set(latency_summary({"retrieve": [5.0], "first_token": []})) == {"retrieve"}
