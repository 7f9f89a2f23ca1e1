"""Quantization: hand-computed examples, round trips and invariants (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from xbarsim.errors import InputError
from xbarsim.quant import (
    quantize_lloyd,
    quantize_quantile,
    quantize_weight_range,
    quantize_weight_range_batched,
    search_levels,
    weight_range,
)

finite = st.floats(
    min_value=-50, max_value=50, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64
)
weight_arrays = arrays(np.float64, st.tuples(st.integers(1, 8), st.integers(1, 8)), elements=finite)


def test_weight_range_hand_example() -> None:
    # W pooled over two layers: min -3, max 2 -> range 5; q = 5 -> interval 1, centres -2.5..1.5.
    w1 = np.array([[-3.0, -2.9], [0.2, 2.0]])
    w2 = np.array([[0.4, 1.2]])
    res = quantize_weight_range([w1, w2], 5)
    np.testing.assert_array_equal(res.levels, [-2.5, 0.5, 1.5])  # bins 1 and 2 empty -> not levels
    np.testing.assert_array_equal(res.counts, [2, 2, 2])
    np.testing.assert_array_equal(res.weights[0], [[-2.5, -2.5], [0.5, 1.5]])
    np.testing.assert_array_equal(res.weights[1], [[0.5, 1.5]])
    np.testing.assert_array_equal(res.level_index[0], [[0, 0], [1, 2]])
    assert res.bins == 5 and res.n_levels == 3 and res.n_weights == 6
    assert weight_range([w1, w2]) == 5.0


def test_weight_range_q1_and_constant() -> None:
    res = quantize_weight_range([np.array([0.0, 4.0, 1.0])], 1)
    np.testing.assert_array_equal(res.levels, [2.0])  # min + range * 0.5
    res = quantize_weight_range([np.full((2, 2), 0.7)], 3)
    np.testing.assert_array_equal(res.levels, [0.7])
    np.testing.assert_array_equal(res.counts, [4])


def test_weight_range_subnormal_span_is_one_level() -> None:
    res = quantize_weight_range([np.array([0.0]), np.array([5e-324])], 2)
    assert res.n_levels == 1 and np.all(np.isfinite(res.levels))


def test_weight_range_max_goes_to_last_bin() -> None:
    res = quantize_weight_range([np.array([0.0, 1.0, 3.0])], 3)
    np.testing.assert_allclose(res.levels, [0.5, 1.5, 2.5], atol=1e-15)
    np.testing.assert_array_equal(res.level_index[0], [0, 1, 2])


def test_quantile_hand_example() -> None:
    w = np.array([[5.0, 1.0, 2.0], [4.0, 3.0, 6.0]])
    res = quantize_quantile(w, 2)  # sorted 1..6 -> {1,2,3} mean 2, {4,5,6} mean 5
    np.testing.assert_array_equal(res.weights[0], [[5.0, 2.0, 2.0], [5.0, 2.0, 5.0]])
    np.testing.assert_array_equal(res.levels, [2.0, 5.0])
    np.testing.assert_array_equal(res.counts, [3, 3])
    assert len(res.weights) == 1


def test_quantile_ties_share_a_bin() -> None:
    # Equal-count split would cut the run of 1s; the run joins the bin of its middle position.
    res = quantize_quantile(np.array([0.0, 1.0, 1.0, 1.0]), 2)
    np.testing.assert_array_equal(res.weights[0], [0.0, 1.0, 1.0, 1.0])
    res = quantize_quantile(np.array([3.0, 3.0, 3.0, 3.0, 9.0, 0.0]), 3)  # positions 1-4 -> bin 1
    np.testing.assert_array_equal(res.weights[0], [3.0, 3.0, 3.0, 3.0, 9.0, 0.0])
    res = quantize_quantile(np.array([0.0, 1.0, 2.0, 2.0, 4.0, 6.0]), 2)  # run at 2-3 -> bin 0
    np.testing.assert_array_equal(res.weights[0], [1.25, 1.25, 1.25, 1.25, 5.0, 5.0])


def test_quantile_k_ge_n_is_identity() -> None:
    w = np.array([3.0, -1.0, 2.5])
    np.testing.assert_array_equal(quantize_quantile(w, 7).weights[0], w)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "3"])
def test_bad_bins(bad: object) -> None:
    with pytest.raises(InputError):
        quantize_weight_range([np.ones(3)], bad)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        quantize_quantile(np.ones(3), bad)  # type: ignore[arg-type]


def test_bad_weights() -> None:
    with pytest.raises(InputError):
        quantize_weight_range([np.array([1.0, np.nan])], 2)
    with pytest.raises(InputError):
        quantize_weight_range([], 2)
    with pytest.raises(InputError):
        quantize_quantile(np.zeros(0), 2)


@settings(max_examples=60, deadline=None)
@given(weight_arrays, weight_arrays, st.integers(1, 12))
def test_weight_range_invariants(w1: np.ndarray, w2: np.ndarray, q: int) -> None:
    res = quantize_weight_range([w1, w2], q)
    lo = min(w1.min(), w2.min())
    span = max(w1.max(), w2.max()) - lo
    assert res.n_levels <= q
    assert np.all(np.diff(res.levels) > 0)
    assert res.counts.sum() == w1.size + w2.size and np.all(res.counts > 0)
    for w, qw, idx in zip((w1, w2), res.weights, res.level_index):
        assert qw.shape == w.shape
        np.testing.assert_array_equal(res.levels[idx], qw)  # round trip level_index -> weights
        # Each weight moves by at most half an interval (plus rounding).
        assert np.all(np.abs(qw - w) <= span / q / 2 * (1 + 1e-9) + 1e-12)
    if span > 0:  # levels are bin centres lo + interval * (i + 1/2)
        i = (res.levels - lo) / (span / q) - 0.5
        np.testing.assert_allclose(i, np.round(i), atol=1e-6)
    assert len({float(x) for x in np.concatenate([a.ravel() for a in res.weights])}) == res.n_levels


@settings(max_examples=60, deadline=None)
@given(weight_arrays, st.integers(1, 12))
def test_quantile_invariants(w: np.ndarray, k: int) -> None:
    res = quantize_quantile(w, k)
    qw = res.weights[0]
    assert qw.shape == w.shape
    assert res.n_levels <= min(k, np.unique(w).size)
    np.testing.assert_array_equal(res.levels[res.level_index[0]], qw)
    np.testing.assert_allclose(qw.sum(), w.sum(), rtol=1e-9, atol=1e-9)  # bin means keep the sum
    flat, qflat = w.ravel(), qw.ravel()
    o = np.argsort(flat, kind="stable")
    assert np.all(np.diff(qflat[o]) >= 0)  # order preserved
    eq = flat[:, None] == flat[None, :]
    assert np.all(qflat[:, None] == qflat[None, :], where=eq)  # ties share a level
    assert qw.min() >= w.min() and qw.max() <= w.max()


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 60), st.integers(1, 10), st.integers(0, 2**32 - 1))
def test_quantile_idempotent_without_ties(n: int, k: int, seed: int) -> None:
    w = np.random.default_rng(seed).normal(size=n)
    once = quantize_quantile(w, k).weights[0]
    twice = quantize_quantile(once, k).weights[0]
    np.testing.assert_array_equal(once, twice)


def test_lloyd_hand_example() -> None:
    # Quantile start (k = 2): {0, 0, 0} | {1, 10}, levels 0 and 5.5; cut 2.75 moves 1 down:
    # {0, 0, 0, 1} | {10}, levels 0.25 and 10; cut 5.125 changes nothing -> fixed point.
    res = quantize_lloyd(np.array([0.0, 0.0, 0.0, 1.0, 10.0]), 2)
    np.testing.assert_array_equal(res.levels, [0.25, 10.0])
    np.testing.assert_array_equal(res.weights[0], [0.25, 0.25, 0.25, 0.25, 10.0])
    np.testing.assert_array_equal(res.counts, [4, 1])


def test_lloyd_three_clusters_found_from_a_bad_start() -> None:
    # 90 weights near 0, 5 near 5, 5 near -5: equal-count bins merge the outliers into the middle
    # cells; Lloyd separates them and lands on the cluster means.
    rng = np.random.default_rng(1)
    w = np.r_[rng.normal(0, 0.01, 90), 5 + rng.normal(0, 0.01, 5), -5 + rng.normal(0, 0.01, 5)]
    res = quantize_lloyd(w, 3)
    np.testing.assert_allclose(
        res.levels, [w[95:].mean(), w[:90].mean(), w[90:95].mean()], rtol=0, atol=1e-12
    )
    q = quantize_quantile(w, 3)
    assert np.sum((res.weights[0] - w) ** 2) < 0.01 * np.sum((q.weights[0] - w) ** 2)


@settings(max_examples=60, deadline=None)
@given(weight_arrays, st.integers(1, 12))
def test_lloyd_invariants(w: np.ndarray, k: int) -> None:
    res = quantize_lloyd(w, k)
    qw = res.weights[0]
    assert qw.shape == w.shape
    assert 1 <= res.n_levels <= min(k, np.unique(w).size)
    assert np.all(np.diff(res.levels) > 0) and np.all(res.counts > 0)
    np.testing.assert_array_equal(res.levels[res.level_index[0]], qw)
    np.testing.assert_allclose(qw.sum(), w.sum(), rtol=1e-9, atol=1e-9 * max(1.0, np.abs(w).sum()))
    flat, qflat = w.ravel(), qw.ravel()
    o = np.argsort(flat, kind="stable")
    assert np.all(np.diff(qflat[o]) >= 0)  # order preserved
    eq = flat[:, None] == flat[None, :]
    assert np.all(qflat[:, None] == qflat[None, :], where=eq)  # ties share a level
    # never worse than its quantile start in squared error
    start = quantize_quantile(w, k).weights[0]
    assert np.sum((qw - w) ** 2) <= np.sum((start - w) ** 2) * (1 + 1e-9) + 1e-18
    # fixed point: every weight sits at its nearest level (up to a tie at a cut point)
    d = np.abs(flat[:, None] - res.levels[None, :])
    assert np.all(np.abs(qflat - flat) <= d.min(axis=1) * (1 + 1e-9) + 1e-12)


def test_lloyd_k_ge_distinct_is_identity_and_rejects_bad_k() -> None:
    w = np.array([[0.3, -1.0], [2.5, 0.3]])
    np.testing.assert_array_equal(quantize_lloyd(w, 3).weights[0], w)
    for bad in (0, 2.5, True):
        with pytest.raises(InputError, match="Lloyd levels"):
            quantize_lloyd(w, bad)  # type: ignore[arg-type]


def test_search_levels_stops_at_first_success() -> None:
    w = [np.linspace(-1, 1, 11)]
    calls = []

    def acc(ws: list[np.ndarray]) -> float:
        n = np.unique(ws[0]).size
        calls.append(n)
        return 1.0 if n >= 3 else 0.5

    rec, res = search_levels(w, acc, alpha=1.0, max_q=10)
    assert rec.q == 3 and rec.found and rec.accuracy == 1.0
    assert [q for q, _ in rec.tried] == [1, 2, 3]
    assert res.bins == 3
    rec, res = search_levels(w, lambda ws: 0.0, alpha=0.9, max_q=4)
    assert rec.q is None and not rec.found and res.bins == 4 and len(rec.tried) == 4


def test_batched_matches_single() -> None:
    rng = np.random.default_rng(3)
    W1, W2 = rng.normal(size=(5, 4, 3)), rng.normal(size=(5, 3, 2))
    W1[2] = 0.25  # a degenerate model: every weight equal in layer 1 ...
    W2[2] = 0.25  # ... and layer 2
    for q in (1, 3, 7):
        (b1, b2), n = quantize_weight_range_batched([W1, W2], q)
        for p in range(5):
            res = quantize_weight_range([W1[p], W2[p]], q)
            np.testing.assert_allclose(b1[p], res.weights[0], rtol=0, atol=1e-12)
            np.testing.assert_allclose(b2[p], res.weights[1], rtol=0, atol=1e-12)
            assert n[p] == res.n_levels
