"""NumPy sigmoid-MSE net: backprop against finite differences, batched training against one model."""

from __future__ import annotations

import numpy as np
import pytest

from xbarsim.datasets.glyphs import glyphs, one_hot
from xbarsim.errors import InputError
from xbarsim.nn import numpy_net as nn


def _single_loss(W1: np.ndarray, W2: np.ndarray, x: np.ndarray, t: np.ndarray) -> float:
    h = 1 / (1 + np.exp(-(x @ W1)))
    y = 1 / (1 + np.exp(-(h @ W2)))
    return 0.5 * float(np.sum((y - t) ** 2))


def test_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(0)
    P, M, H, O = 3, 6, 4, 5
    W1, W2 = rng.normal(size=(P, M, H)), rng.normal(size=(P, H, O))
    x, t = rng.integers(0, 2, size=(P, M)).astype(float), np.eye(O)[rng.integers(0, O, P)]
    dW1, dW2 = nn.gradients(W1, W2, x, t)
    eps = 1e-6
    for p in range(P):
        for W, dW in ((W1, dW1), (W2, dW2)):
            num = np.zeros(W.shape[1:])
            for idx in np.ndindex(*W.shape[1:]):
                W[(p, *idx)] += eps
                up = _single_loss(W1[p], W2[p], x[p], t[p])
                W[(p, *idx)] -= 2 * eps
                down = _single_loss(W1[p], W2[p], x[p], t[p])
                W[(p, *idx)] += eps
                num[idx] = (up - down) / (2 * eps)
            np.testing.assert_allclose(dW[p], num, rtol=1e-5, atol=1e-9)


def test_forward_and_accuracy_shapes() -> None:
    X = glyphs(5)
    W1, W2 = nn.init_weights(np.random.default_rng(1), 4, 25)
    H, Y = nn.forward(W1, W2, X)
    assert H.shape == (4, 10, 10) and Y.shape == (4, 10, 10)
    assert nn.accuracy(W1, W2, X).shape == (4,)
    assert nn.accuracy(W1[0], W2[0], X).shape == (1,)
    np.testing.assert_allclose(nn.sigmoid(np.array([-1000.0, 0.0, 1000.0])), [0.0, 0.5, 1.0])


def test_batched_training_equals_one_model_at_a_time() -> None:
    """Two groups trained together give exactly what each gives alone (no cross-talk)."""
    X, T = glyphs(5), one_hot()
    inits = [nn.init_weights(np.random.default_rng(s), 2, 25) for s in (11, 12)]
    W1 = np.concatenate([i[0] for i in inits])
    W2 = np.concatenate([i[1] for i in inits])
    together = nn.train(
        X, T, W1, W2, [np.random.default_rng(21), np.random.default_rng(22)], lr=1.0, epochs=30
    )
    for g, s in enumerate((21, 22)):
        alone = nn.train(X, T, inits[g][0], inits[g][1], [np.random.default_rng(s)], lr=1.0, epochs=30)
        np.testing.assert_allclose(together.W1[2 * g : 2 * g + 2], alone.W1, rtol=0, atol=1e-12)
        np.testing.assert_allclose(together.W2[2 * g : 2 * g + 2], alone.W2, rtol=0, atol=1e-12)


def test_sgd_step_matches_manual_loop() -> None:
    """One epoch of the batched trainer equals a plain per-sample loop in the same order."""
    X, T = glyphs(5), one_hot()
    W1, W2 = nn.init_weights(np.random.default_rng(3), 1, 25)
    res = nn.train(X, T, W1, W2, [np.random.default_rng(5)], lr=0.7, epochs=1)
    order = np.random.default_rng(5).permuted(np.tile(np.arange(10), (1, 1)), axis=1)[0]
    a, b = W1[0].copy(), W2[0].copy()
    for k in order:
        h = 1 / (1 + np.exp(-(X[k] @ a)))
        y = 1 / (1 + np.exp(-(h @ b)))
        dy = (y - T[k]) * y * (1 - y)
        dh = (b @ dy) * h * (1 - h)
        b -= 0.7 * np.outer(h, dy)
        a -= 0.7 * np.outer(X[k], dh)
    np.testing.assert_allclose(res.W1[0], a, atol=1e-12)
    np.testing.assert_allclose(res.W2[0], b, atol=1e-12)


def test_training_learns_the_glyphs() -> None:
    X, T = glyphs(5), one_hot()
    W1, W2 = nn.init_weights(np.random.default_rng(0), 4, 25, scale=0.5)
    before = nn.loss(W1, W2, X, T)
    res = nn.train(X, T, W1, W2, [np.random.default_rng(0)], lr=1.0, epochs=300)
    assert np.all(nn.loss(res.W1, res.W2, X, T) < before)
    assert res.all_perfect and np.all(res.accuracy == 1.0)
    assert np.all((res.first_perfect_epoch >= 1) & (res.first_perfect_epoch <= 300))


def test_monitor_history() -> None:
    X, T = glyphs(5), one_hot()
    W1, W2 = nn.init_weights(np.random.default_rng(0), 2, 25)
    res = nn.train(
        X, T, W1, W2, [np.random.default_rng(0)], epochs=6, monitor=lambda e, a, b: e, monitor_every=2
    )
    assert res.history == (2, 4, 6)


def test_bad_training_input() -> None:
    X, T = glyphs(5), one_hot()
    W1, W2 = nn.init_weights(np.random.default_rng(0), 3, 25)
    with pytest.raises(InputError):
        nn.train(X, T, W1, W2, [np.random.default_rng(0), np.random.default_rng(1)])  # 3 models, 2 groups
    with pytest.raises(InputError):
        nn.train(X, T, W1, W2, [np.random.default_rng(0)], lr=-1)
    with pytest.raises(InputError):
        nn.train(glyphs(7), T, W1, W2, [np.random.default_rng(0)])
