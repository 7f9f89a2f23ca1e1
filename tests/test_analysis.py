"""xbarsim.analysis.accuracy: the one tie rule, the batched form, label checks, and its users."""

from __future__ import annotations

import numpy as np
import pytest

from xbarsim.analysis import accuracy, accuracy_batched, correct, recognition
from xbarsim.errors import InputError
from xbarsim.experiments import romero_zaliz2021
from xbarsim.nn import numpy_net


def test_ties_are_not_recognitions() -> None:
    S = np.array(
        [
            [3.0, 1.0, 2.0],  # label 0: right
            [2.0, 2.0, 0.0],  # label 1 ties with class 0 for the top: wrong (argmax would say 0)
            [0.0, 0.0, 0.0],  # all equal (nothing conducts): wrong
            [5.0, 5.0, 1.0],  # label 0 ties with class 1: wrong although argmax picks 0
            [np.nan, 1.0, 0.0],  # NaN never right
        ]
    )
    labels = np.array([0, 1, 2, 0, 1])
    np.testing.assert_array_equal(correct(S, labels), [True, False, False, False, False])
    assert accuracy(S, labels) == pytest.approx(0.2)
    assert recognition(np.eye(3)) == 1.0 and recognition(np.zeros((3, 3))) == 0.0


def test_batched_equals_one_model_at_a_time() -> None:
    rng = np.random.default_rng(0)
    S = rng.integers(0, 3, size=(7, 10, 4)).astype(float)  # many ties on purpose
    y = rng.integers(0, 4, size=10)
    want = [accuracy(S[p], y) for p in range(7)]
    np.testing.assert_allclose(accuracy_batched(S, y), want, rtol=0, atol=0)
    # independent oracle: a Python loop over rows with the strict-maximum rule
    for p in range(7):
        ok = [S[p, b, y[b]] > max(np.delete(S[p, b], y[b])) for b in range(10)]
        assert accuracy(S[p], y) == pytest.approx(np.mean(ok))


def test_users_share_the_rule() -> None:
    # numpy_net: a net whose outputs tie for every digit recognizes none (argmax would give digit 0)
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
