"""The two-layer sigmoid-MSE network of Kim et al. 2024, in NumPy, for many models at once.

Network: ``h = sigmoid(x @ W1)``, ``y = sigmoid(h @ W2)``, no biases, loss
``0.5 * sum((y - t)**2)`` per sample, plain backpropagation (stochastic gradient descent, one
sample per step, the ten digits in a fresh random order every epoch, as in the paper).

Every function takes a leading *models* axis: ``W1`` is (P, M, H) and ``W2`` is (P, H, O) for P
independent models, so a whole study (thousands of models) trains as one set of batched array
operations instead of a Python loop per model. A single model is P = 1.
Randomness is explicit: models are split into equal consecutive groups, one
``numpy.random.Generator`` per group (for the studies, one group per seed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from .._validate import check_int
from ..analysis import accuracy_batched
from ..errors import InputError

__all__ = [
    "TrainResult",
    "accuracy",
    "forward",
    "gradients",
    "init_weights",
    "loss",
    "sigmoid",
    "train",
]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function (SciPy's ``expit``: one ufunc pass, overflow-free for large |x|)."""
    return expit(x)


def _batched(W1: np.ndarray, W2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    W1 = np.asarray(W1, dtype=np.float64)
    W2 = np.asarray(W2, dtype=np.float64)
    if W1.ndim == 2:
        W1 = W1[None]
    if W2.ndim == 2:
        W2 = W2[None]
    if W1.ndim != 3 or W2.ndim != 3 or W1.shape[0] != W2.shape[0] or W1.shape[2] != W2.shape[1]:
        raise InputError(f"weight shapes do not chain: W1 {W1.shape}, W2 {W2.shape} (want (P,M,H), (P,H,O))")
    return W1, W2


def init_weights(
    rng: np.random.Generator,
    n_models: int,
    n_in: int,
    n_hidden: int = 10,
    n_out: int = 10,
    scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Initial weights drawn from N(0, scale^2): W1 (P, n_in, n_hidden), W2 (P, n_hidden, n_out)."""
    check_int(n_models, "n_models", minimum=1)
    W1 = rng.normal(0.0, scale, size=(n_models, n_in, n_hidden))
    W2 = rng.normal(0.0, scale, size=(n_models, n_hidden, n_out))
    return W1, W2


def forward(W1: np.ndarray, W2: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hidden (P, B, H) and output (P, B, O) activations for inputs X (B, M) or per-model (P, B, M)."""
    W1, W2 = _batched(W1, W2)
    X = np.asarray(X, dtype=np.float64)
    H = sigmoid(X @ W1)  # (B,M) @ (P,M,H) broadcasts to (P,B,H)
    return H, sigmoid(H @ W2)


def accuracy(W1: np.ndarray, W2: np.ndarray, X: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """(P,) fraction of rows of X each model classifies right (default label: the row index).

    Tie rule of :func:`xbarsim.analysis.correct` (first maximum; all-equal outputs are wrong).
    """
    W1, W2 = _batched(W1, W2)
    Y = sigmoid(np.asarray(X, dtype=np.float64) @ W1) @ W2  # the output sigmoid keeps the order
    return accuracy_batched(Y, labels)


def loss(W1: np.ndarray, W2: np.ndarray, X: np.ndarray, T: np.ndarray) -> np.ndarray:
    """(P,) summed squared-error loss 0.5 * sum((y - t)^2) over the rows of X."""
    _, Y = forward(W1, W2, X)
    return 0.5 * np.sum((Y - T[None]) ** 2, axis=(1, 2))


def gradients(W1: np.ndarray, W2: np.ndarray, x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of the loss of one sample per model: x (P, M), t (P, O) -> dW1, dW2.

    This is the backpropagation step used by :func:`train` (checked against finite
    differences in the tests).
    """
    W1, W2 = _batched(W1, W2)
    h = sigmoid(np.einsum("pm,pmh->ph", x, W1))
    y = sigmoid(np.einsum("ph,pho->po", h, W2))
    dy = (y - t) * y * (1.0 - y)
    dh = np.einsum("pho,po->ph", W2, dy) * h * (1.0 - h)
    return x[:, :, None] * dh[:, None, :], h[:, :, None] * dy[:, None, :]


@dataclass(frozen=True, eq=False)
class TrainResult:
    """Trained weights of P models and how training went.

    Attributes
    ----------
    W1, W2:
        (P, M, H) and (P, H, O) trained weights.
    accuracy:
        (P,) recognition of the ten inputs after training.
    first_perfect_epoch:
        (P,) first epoch (1-based) after which recognition was 100 %, -1 if never.
    epochs:
        Number of epochs run.
    history:
        Whatever the ``monitor`` callback returned after each epoch (empty without one).
    """

    W1: np.ndarray
    W2: np.ndarray
    accuracy: np.ndarray
    first_perfect_epoch: np.ndarray
    epochs: int
    history: tuple[object, ...] = ()

    @property
    def n_models(self) -> int:
        return int(self.W1.shape[0])

    @property
    def all_perfect(self) -> bool:
        return bool(np.all(self.first_perfect_epoch > 0))

    def model(self, p: int) -> list[np.ndarray]:
        """``[W1, W2]`` of model ``p``."""
        return [self.W1[p], self.W2[p]]


def train(
    X: np.ndarray,
    T: np.ndarray,
    W1: np.ndarray,
    W2: np.ndarray,
    rngs: Sequence[np.random.Generator],
    *,
    lr: float = 0.5,
    epochs: int = 300,
    monitor: Callable[[int, np.ndarray, np.ndarray], object] | None = None,
    monitor_every: int = 1,
) -> TrainResult:
    """Train P models by per-sample backpropagation, all models in lock step.

    Parameters
    ----------
    X, T:
        (S, M) inputs and (S, O) targets (S = 10 digits).
    W1, W2:
        Initial weights (P, M, H), (P, H, O) (copied, not modified).
    rngs:
        One generator per group of models; P must be a multiple of ``len(rngs)`` and group g is
        models ``g*P/G ... (g+1)*P/G - 1``. Each group draws its models' sample orders.
    lr:
        Learning rate of the gradient step.
    epochs:
        Number of passes over the S samples (the cap; see ``first_perfect_epoch``).
    monitor:
        Called as ``monitor(epoch, W1, W2)`` every ``monitor_every`` epochs; results go to
        ``history``.
    """
    X = np.asarray(X, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    W1, W2 = _batched(W1, W2)
    W1, W2 = W1.copy(), W2.copy()
    P, M, _ = W1.shape
    if X.ndim != 2 or X.shape[1] != M or T.shape != (X.shape[0], W2.shape[2]):
        raise InputError(f"X {X.shape} / T {T.shape} do not fit weights {W1.shape}, {W2.shape}")
    if not rngs or P % len(rngs):
        raise InputError(f"{P} models cannot be split into {len(rngs)} equal groups")
    if not lr > 0:
        raise InputError(f"learning rate must be > 0, got {lr}")
    check_int(epochs, "epochs", minimum=0)
    check_int(monitor_every, "monitor_every", minimum=1)
    S = X.shape[0]
    per_group = P // len(rngs)
    base = np.tile(np.arange(S), (per_group, 1))
    first = np.full(P, -1, dtype=np.int64)
    history: list[object] = []
    for epoch in range(1, epochs + 1):
        order = np.concatenate([rng.permuted(base, axis=1) for rng in rngs])
        for s in range(S):
            k = order[:, s]
            x, t = X[k], T[k]
            # the step of gradients(), inlined: einsum outer products are the fastest update here
            h = sigmoid(np.einsum("pm,pmh->ph", x, W1))
            y = sigmoid(np.einsum("ph,pho->po", h, W2))
            dy = (y - t) * y * (1.0 - y)
            dh = np.einsum("pho,po->ph", W2, dy) * h * (1.0 - h)
            W2 -= np.einsum("ph,po->pho", h, lr * dy)
            W1 -= np.einsum("pm,ph->pmh", x, lr * dh)
        acc = accuracy(W1, W2, X)
        newly = (first < 0) & (acc >= 1.0)
        first[newly] = epoch
        if monitor is not None and epoch % monitor_every == 0:
            history.append(monitor(epoch, W1, W2))
    return TrainResult(W1, W2, accuracy(W1, W2, X), first, int(epochs), tuple(history))
