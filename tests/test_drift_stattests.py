"""The drift-test registry: each score against scipy/numpy or a hand computation, auto choice."""

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from components._shared.errors import ConfigError
from components.detect_drift.stattests import (
    CATEGORICAL,
    NUMERICAL,
    REGISTRY,
    auto_test,
    ensure_applicable,
    get_test,
    shares,
)

RNG = np.random.default_rng(7)
REF = RNG.normal(0, 1, 300)
CUR = RNG.normal(0.3, 1.2, 200)


def score(name, ref, cur, column_type=NUMERICAL):
    return REGISTRY[name].score(ref, cur, column_type)


def test_stattests_ks_is_scipy_two_sample_p_value():
    assert score("ks", REF, CUR) == pytest.approx(stats.ks_2samp(REF, CUR).pvalue, rel=1e-12)


def test_stattests_wasserstein_is_normed_by_population_std_of_reference():
    expected = stats.wasserstein_distance(REF, CUR) / np.std(REF, ddof=0)
    assert score("wasserstein", REF, CUR) == pytest.approx(expected, rel=1e-12)


def test_stattests_wasserstein_on_constant_reference_uses_the_std_floor():
    ref, cur = np.full(50, 3.0), np.full(40, 3.5)
    assert score("wasserstein", ref, cur) == pytest.approx(0.5 / 0.001)
    assert score("wasserstein", ref, ref) == 0.0
    assert score("ks", ref, ref) == pytest.approx(1.0)


def test_stattests_chisquare_expects_reference_shares_scaled_to_current_size():
    ref = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 20)
    cur = np.array(["a"] * 20 + ["b"] * 20 + ["c"] * 10)
    expected = stats.chisquare([20, 20, 10], [25, 15, 10]).pvalue
    assert score("chisquare", ref, cur, CATEGORICAL) == pytest.approx(expected, rel=1e-12)


def test_stattests_chisquare_category_unseen_in_reference_gives_p_zero():
    ref = np.array(["a"] * 10 + ["b"] * 10)
    cur = np.array(["a"] * 10 + ["b"] * 5 + ["c"] * 5)
    assert score("chisquare", ref, cur, CATEGORICAL) == 0.0


def test_stattests_z_test_matches_hand_computed_two_proportion_test():
    ref = np.array(["no"] * 60 + ["yes"] * 40)
    cur = np.array(["no"] * 30 + ["yes"] * 70)
    p1, p2 = 0.4, 0.7  # share of the non-first value ("yes")
    pooled = (p1 * 100 + p2 * 100) / 200
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / 100 + 1 / 100))
    expected = 2 * (1 - stats.norm.cdf(abs(z)))
    assert score("z", ref, cur, CATEGORICAL) == pytest.approx(expected, rel=1e-12)


def test_stattests_z_test_is_one_when_both_sides_are_the_same_constant():
    same = np.array(["x"] * 10)
    assert score("z", same, same, CATEGORICAL) == 1.0


def test_stattests_jensenshannon_on_categories_is_scipy_natural_log():
    ref = np.array(["a"] * 5 + ["b"] * 3 + ["c"] * 2)
    cur = np.array(["a"] * 2 + ["b"] * 2 + ["d"] * 6)
    expected = distance.jensenshannon([0.5, 0.3, 0.2, 0.0], [0.2, 0.2, 0.0, 0.6])
    assert score("jensenshannon", ref, cur, CATEGORICAL) == pytest.approx(expected, rel=1e-12)


def test_stattests_jensenshannon_bins_numbers_with_sturges_over_both_samples():
    edges = np.histogram_bin_edges(np.concatenate([REF, CUR]), bins="sturges")
    p = np.histogram(REF, edges)[0] / len(REF)
    q = np.histogram(CUR, edges)[0] / len(CUR)
    assert score("jensenshannon", REF, CUR) == pytest.approx(distance.jensenshannon(p, q))


def test_stattests_numbers_with_few_distinct_values_are_not_binned():
    ref, cur = np.array([1.0, 2.0, 2.0, 3.0]), np.array([2.0, 4.0])
    p, q = shares(ref, cur, NUMERICAL)
    assert list(p) == [0.25, 0.5, 0.25, 0.0] and list(q) == [0.0, 0.5, 0.0, 0.5]


def test_stattests_psi_matches_hand_computation_with_floor_for_empty_bins():
    ref = np.array(["a"] * 6 + ["b"] * 4)
    cur = np.array(["a"] * 5 + ["c"] * 5)
    p = np.array([0.6, 0.4, 1e-4])  # a, b, c; c empty in the reference → floor 1e-4
    q = np.array([0.5, 1e-4, 0.5])
    expected = float(np.sum((p - q) * np.log(p / q)))
    assert score("psi", ref, cur, CATEGORICAL) == pytest.approx(expected, rel=1e-12)


def test_stattests_kl_div_is_entropy_of_floored_normalized_shares():
    ref = np.array(["a"] * 6 + ["b"] * 4)
    cur = np.array(["a"] * 5 + ["c"] * 5)
    expected = stats.entropy([0.6, 0.4, 1e-4], [0.5, 1e-4, 0.5])
    assert score("kl_div", ref, cur, CATEGORICAL) == pytest.approx(expected, rel=1e-12)


def test_stattests_hellinger_on_categories_matches_hand_computation():
    ref = np.array(["a"] * 5 + ["b"] * 5)
    cur = np.array(["a"] * 8 + ["b"] * 2)
    expected = math.sqrt(1 - (math.sqrt(0.5 * 0.8) + math.sqrt(0.5 * 0.2)))
    assert score("hellinger", ref, cur, CATEGORICAL) == pytest.approx(expected, rel=1e-12)
    assert score("hellinger", ref, ref, CATEGORICAL) == pytest.approx(0.0, abs=1e-7)


def test_stattests_hellinger_on_numbers_is_zero_when_equal_and_one_when_disjoint():
    low, high = np.arange(0.0, 50.0), np.arange(100.0, 150.0)
    assert score("hellinger", low, low) == pytest.approx(0.0, abs=1e-7)
    assert score("hellinger", low, high) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("name", "value", "threshold", "drifted"),
    [
        ("ks", 0.05, 0.05, True),  # KS drifts at p <= t
        ("chisquare", 0.05, 0.05, False),  # chi-square and z drift at p < t
        ("z", 0.049, 0.05, True),
        ("wasserstein", 0.1, 0.1, True),  # distances drift at >= t
        ("psi", 0.099, 0.1, False),
    ],
)
def test_stattests_drift_rules_at_the_threshold(name, value, threshold, drifted):
    assert REGISTRY[name].drifted(value, threshold) is drifted


@pytest.mark.parametrize(
    ("rows", "column_type", "n_values", "expected"),
    [
        (1000, NUMERICAL, 6, "ks"),
        (1000, NUMERICAL, 5, "chisquare"),
        (1000, NUMERICAL, 2, "z"),
        (1000, CATEGORICAL, 3, "chisquare"),
        (1000, CATEGORICAL, 2, "z"),
        (1001, NUMERICAL, 6, "wasserstein"),
        (1001, NUMERICAL, 5, "jensenshannon"),
        (1001, CATEGORICAL, 50, "jensenshannon"),
    ],
)
def test_stattests_auto_choice_reproduces_evidently_table(rows, column_type, n_values, expected):
    assert auto_test(rows, column_type, n_values).name == expected


def test_stattests_unknown_method_lists_every_valid_name():
    with pytest.raises(ConfigError, match=r"unknown drift method 'kstest'; expected one of .*'ks'"):
        get_test("kstest")


@pytest.mark.parametrize(
    ("name", "threshold"), [("ks", 0.0), ("ks", 1.0), ("psi", -0.1), ("hellinger", 1.5)]
)
def test_stattests_threshold_out_of_range_is_a_config_error(name, threshold):
    with pytest.raises(ConfigError, match=rf"threshold .* for column 'x' \({name}\) is out of"):
        REGISTRY[name].check_threshold(threshold, "x")


def test_stattests_ks_on_categorical_column_names_usable_methods():
    with pytest.raises(ConfigError, match=r"'ks' needs numerical data; column 'sex' is categ"):
        ensure_applicable(get_test("ks"), "sex", CATEGORICAL)
