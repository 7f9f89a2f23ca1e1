"""The one forward pass (xbarsim.nn.ops.forward) with the matrix product as a function.

Oracles: a hand-written loop over the ops (direct convolution, explicit pooling) for the float
product; the identity of what the forward pass hands to ``product`` (which op, how many rows,
in which order) for the product-as-a-function contract.
"""

from __future__ import annotations

import numpy as np
import pytest

from xbarsim.errors import InputError
from xbarsim.nn import keras_models as km
from xbarsim.nn.ops import Conv, Dense, Flatten, Pool, float_product, forward


def _net(rng):
    return [
        Conv(rng.normal(size=(3, 3, 2, 3)), rng.normal(size=3), "relu", "conv1"),
        Pool(2),
        Flatten(),
        Dense(rng.normal(size=(3 * 3 * 3, 5)), rng.normal(size=5), "relu", "dense1"),
        Dense(rng.normal(size=(5, 4)), rng.normal(size=4), "softmax", "output"),
    ]


def _by_hand(ops, x):
    """Direct loops: 'valid' convolution, p x p max pooling, dense layers, softmax."""
    a = x
    for op in ops:
        if isinstance(op, Conv):
            kh, kw, _, F = op.W.shape
            B, H, W, _ = a.shape
            z = np.zeros((B, H - kh + 1, W - kw + 1, F))
            for i in range(H - kh + 1):
                for j in range(W - kw + 1):
                    z[:, i, j] = np.einsum("bhwc,hwcf->bf", a[:, i : i + kh, j : j + kw], op.W) + op.b
            a = np.maximum(z, 0)
        elif isinstance(op, Pool):
            B, H, W, C = a.shape
            p = op.p
            out = np.full((B, H // p, W // p, C), -np.inf)
            for i in range(H // p * p):
                for j in range(W // p * p):
                    out[:, i // p, j // p] = np.maximum(out[:, i // p, j // p], a[:, i, j])
            a = out
        elif isinstance(op, Flatten):
            a = a.reshape(a.shape[0], -1)
        else:
            z = a @ op.W + op.b
            if op.activation == "softmax":
                e = np.exp(z - z.max(axis=1, keepdims=True))
                a = e / e.sum(axis=1, keepdims=True)
            else:
                a = np.maximum(z, 0)
    return a


def test_float_forward_matches_direct_loops_and_keras_wrapper():
    rng = np.random.default_rng(0)
    ops = _net(rng)
    x = rng.normal(size=(4, 9, 8, 2))
    ref = _by_hand(ops, x)
    np.testing.assert_allclose(forward(ops, x, float_product), ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(km.forward(ops, x), ref, rtol=1e-12, atol=1e-14)
    logits = km.forward(ops, x, logits=True)
    assert np.array_equal(np.argmax(logits, axis=1), np.argmax(ref, axis=1))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(e / e.sum(axis=1, keepdims=True), ref, rtol=1e-12)


def test_product_sees_each_weighted_op_once_with_its_rows():
    """Conv rows are im2col patches (B * H' * W' of them); k counts weighted ops in order."""
    rng = np.random.default_rng(1)
    ops = _net(rng)
    x = rng.normal(size=(3, 9, 8, 2))
    seen = []

    def product(k, op, X):
        seen.append((k, op.name, X.shape))
        return float_product(k, op, X)

    forward(ops, x, product)
    assert seen == [(0, "conv1", (3 * 7 * 6, 18)), (1, "dense1", (3, 27)), (2, "output", (3, 5))]


def test_product_replaces_the_matrix_product():
    """A product that doubles every pre-activation: with linear activations, the output doubles
    once per weighted layer and the biases follow the same path (checked against float)."""
    rng = np.random.default_rng(2)
    ops = [
        Flatten(),
        Dense(rng.normal(size=(6, 3)), np.zeros(3), "linear", "a"),
        Dense(rng.normal(size=(3, 2)), np.zeros(2), "linear", "b"),
    ]
    x = rng.normal(size=(5, 2, 3))  # (B, H, W): a channel is added
    ref = forward(ops, x, float_product)
    got = forward(ops, x, lambda k, op, X: 2.0 * float_product(k, op, X))
    np.testing.assert_allclose(got, 4.0 * ref, rtol=1e-12)


def test_unknown_op_and_bad_pool():
    with pytest.raises(InputError, match="unknown layer op"):
        forward([object()], np.zeros((1, 2, 2)), float_product)
    with pytest.raises(InputError, match="pool size"):
        Pool(0)
