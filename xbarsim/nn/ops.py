"""The network as plain NumPy ops, and the one forward pass every evaluation path uses.

A network is a list of ops: :class:`Dense`, :class:`Conv` ('valid', stride 1, computed through
:func:`im2col`), :class:`Pool` and :class:`Flatten`. Model front ends (the Keras importer today)
produce these; :mod:`xbarsim.mapping` replaces each weighted op by its mapped layer.

:func:`forward` walks the ops and leaves the one thing that differs between float inference,
the quantized model, the ideal crossbar and the circuit to its ``product`` argument: the
pre-activation of the k-th weighted op for a batch of input rows. Pooling, flattening, the
activations and the im2col bookkeeping of convolutions are therefore written once.
No TensorFlow here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from .._validate import check_int
from ..errors import InputError

Activation = Literal["relu", "softmax", "linear"]
ACTIVATIONS: tuple[str, ...] = ("relu", "softmax", "linear")


@runtime_checkable
class Weighted(Protocol):
    """What :func:`forward` needs of a weighted op (:class:`Dense`, :class:`Conv`, a mapped layer)."""

    @property
    def activation(self) -> str: ...

    @property
    def window(self) -> tuple[int, int] | None:
        """(kh, kw) of a convolution (its inputs are im2col patches), ``None`` for a dense layer."""
        ...


@dataclass(frozen=True, eq=False)
class _Layer:
    """Weights, bias, activation and name: what Dense and Conv share."""

    W: np.ndarray
    b: np.ndarray
    activation: Activation = "relu"
    name: str = "layer"


@dataclass(frozen=True, eq=False)
class Dense(_Layer):
    """y = act(x @ W + b); W (n_in, n_out)."""

    name: str = "dense"

    @property
    def window(self) -> None:
        return None


@dataclass(frozen=True, eq=False)
class Conv(_Layer):
    """'valid' stride-1 convolution, W (kh, kw, C, F) as Keras stores it, then the activation."""

    name: str = "conv"

    @property
    def window(self) -> tuple[int, int]:
        return (int(self.W.shape[0]), int(self.W.shape[1]))


@dataclass(frozen=True)
class Pool:
    """Max pooling p x p with stride p ('valid': trailing rows/columns dropped)."""

    p: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "p", check_int(self.p, "pool size", minimum=1))


@dataclass(frozen=True)
class Flatten:
    """(B, H, W, C) -> (B, H*W*C) in C order, as Keras' Flatten."""


Op = Dense | Conv | Pool | Flatten

#: ``product(k, op, X) -> Z``: pre-activation (B, n_out) of the k-th weighted op for rows X (B, n_in).
Product = Callable[[int, Any, np.ndarray], np.ndarray]


def activate(z: np.ndarray, activation: str) -> np.ndarray:
    """Apply relu / softmax (last axis) / linear."""
    if activation == "relu":
        return np.maximum(z, 0.0)
    if activation == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return np.asarray(e / e.sum(axis=-1, keepdims=True))
    if activation == "linear":
        return z
    raise InputError(f"unsupported activation {activation!r}")


def im2col(x: np.ndarray, kh: int, kw: int) -> np.ndarray:
    """Patches of a 'valid' stride-1 convolution: (B, H, W, C) -> (B, H-kh+1, W-kw+1, kh*kw*C).

    The patch vector is ordered (dy, dx, c), matching ``W.reshape(kh*kw*C, F)`` of a Keras kernel.
    """
    B, H, W, C = x.shape
    if H < kh or W < kw:
        raise InputError(f"input {H}x{W} is smaller than the {kh}x{kw} kernel")
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))  # (B, H', W', C, kh, kw)
    return np.ascontiguousarray(win.transpose(0, 1, 2, 4, 5, 3)).reshape(
        B, H - kh + 1, W - kw + 1, kh * kw * C
    )


def max_pool(x: np.ndarray, p: int) -> np.ndarray:
    """p x p max pooling with stride p on (B, H, W, C), dropping incomplete windows."""
    B, H, W, C = x.shape
    h, w = H // p, W // p
    if h < 1 or w < 1:
        raise InputError(f"pooling {p}x{p} does not fit a {H}x{W} map")
    return np.asarray(x[:, : h * p, : w * p, :].reshape(B, h, p, w, p, C).max(axis=(2, 4)))


def float_product(k: int, op: Dense | Conv, X: np.ndarray) -> np.ndarray:
    """The float product ``X @ W + b`` of a Dense or Conv op (kernels flattened as im2col orders them)."""
    return np.asarray(X @ op.W.reshape(-1, op.W.shape[-1]) + op.b)


def forward(ops: Sequence[Any], x: np.ndarray, product: Product, *, logits: bool = False) -> np.ndarray:
    """Forward pass of ``ops`` on images (B, H, W, C) (or (B, H, W): a channel is added).

    Every weighted op (see :class:`Weighted`) gets its input rows -- the activations, or their
    im2col patches (B * H' * W', kh * kw * C) for a convolution -- and ``product(k, op, X)``
    returns its pre-activation; k counts the weighted ops from 0. With ``logits=True`` the
    activation of a final weighted op is skipped (argmax of a softmax is unchanged).
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 3:
        a = a[..., None]
    k = 0
    for j, op in enumerate(ops):
        if isinstance(op, Pool):
            a = max_pool(a, op.p)
        elif isinstance(op, Flatten):
            a = a.reshape(a.shape[0], -1)
        elif isinstance(op, Weighted):
            win = op.window
            if win is None:
                z = product(k, op, a)
            else:
                P = im2col(a, *win)
                z = product(k, op, P.reshape(-1, P.shape[-1]))
                z = z.reshape(*P.shape[:3], z.shape[-1])
            a = z if (logits and j == len(ops) - 1) else activate(z, op.activation)
            k += 1
        else:
            raise InputError(f"unknown layer op {op!r}")
    return a


def weighted(ops: Sequence[Op]) -> list[Dense | Conv]:
    """The ops that carry weights (the ones mapped onto crossbars), in order."""
    return [op for op in ops if isinstance(op, (Dense, Conv))]


def n_synapses(ops: Sequence[Op], *, with_bias: bool = True) -> int:
    """Number of weights (plus biases) of the network: one synapse per weight."""
    return int(sum(op.W.size + (op.b.size if with_bias else 0) for op in weighted(ops)))


__all__ = [
    "ACTIVATIONS",
    "Activation",
    "Conv",
    "Dense",
    "Flatten",
    "Op",
    "Pool",
    "Product",
    "Weighted",
    "activate",
    "float_product",
    "forward",
    "im2col",
    "max_pool",
    "n_synapses",
    "weighted",
]
