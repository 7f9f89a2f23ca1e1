"""xbarsim.analysis.accuracy: the one tie rule, the batched form, label checks, and its users."""

from __future__ import annotations

import numpy as np
import pytest

from xbarsim.analysis import accuracy, accuracy_batched, correct, recognition
from xbarsim.errors import InputError
from xbarsim.experiments import romero_zaliz2021
from xbarsim.nn import numpy_net


def test_tie_rule() -> None:
    S = np.array(
        [
            [3.0, 1.0, 2.0],  # label 0: right
            [2.0, 2.0, 0.0],  # label 1 ties with class 0 for the top: the first maximum (0) wins, wrong
            [0.0, 0.0, 0.0],  # all equal (nothing conducts): no prediction, wrong
            [5.0, 5.0, 1.0],  # label 0 ties with class 1: the first maximum is 0, right
            [np.nan, 1.0, 0.0],  # a non-finite score: wrong
            [1.0, np.inf, 0.0],  # also wrong, although the label's score is the largest
        ]
    )
    labels = np.array([0, 1, 2, 0, 1, 1])
    np.testing.assert_array_equal(correct(S, labels), [True, False, False, True, False, False])
    assert accuracy(S, labels) == pytest.approx(2 / 6)
    assert recognition(np.eye(3)) == 1.0 and recognition(np.zeros((3, 3))) == 0.0


def test_batched_equals_one_model_at_a_time() -> None:
    rng = np.random.default_rng(0)
    S = rng.integers(0, 3, size=(7, 10, 4)).astype(float)  # many ties on purpose
    y = rng.integers(0, 4, size=10)
    want = [accuracy(S[p], y) for p in range(7)]
    np.testing.assert_allclose(accuracy_batched(S, y), want, rtol=0, atol=0)
    # independent oracle: a Python loop over rows (first maximum; all-equal rows are wrong)
    for p in range(7):
        ok = []
        for b in range(10):
            row = list(S[p, b])
            ok.append(len(set(row)) > 1 and row.index(max(row)) == y[b])
        assert accuracy(S[p], y) == pytest.approx(np.mean(ok))


def test_users_share_the_rule() -> None:
    # numpy_net: a net whose outputs are equal for every digit recognizes none (argmax alone: digit 0)
    W1, W2 = np.zeros((1, 25, 10)), np.zeros((1, 10, 10))
    X = np.eye(10, 25)
    assert numpy_net.accuracy(W1, W2, X)[0] == 0.0
    assert romero_zaliz2021.accuracy is accuracy


@pytest.mark.parametrize(
    "scores, labels, match",
    [
        (np.zeros(3), None, "samples, classes"),
        (np.zeros((0, 3)), None, "samples, classes"),
        (np.zeros((2, 3)), np.array([0, 3]), r"0\.\.2"),
        (np.zeros((2, 3)), np.array([0.0, 1.0]), "integers"),
        (np.zeros((2, 3)), np.array([0, 1, 2]), "2 integers"),
        (np.zeros((4, 3)), None, "row index"),
    ],
)
def test_bad_input(scores, labels, match: str) -> None:
    with pytest.raises(InputError, match=match):
        accuracy(scores, labels)


def test_batched_needs_three_axes() -> None:
    with pytest.raises(InputError, match="models, samples, classes"):
        accuracy_batched(np.zeros((2, 3)))
