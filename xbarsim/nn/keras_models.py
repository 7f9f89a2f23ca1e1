"""Keras 3 MLP/CNN trainer of Romero-Zaliz et al. 2021, and the trained model as plain NumPy layers.

TensorFlow/Keras are imported inside the functions that need them only, so importing this module
is cheap; :func:`extract` turns a trained model into a list of NumPy layer ops (:class:`Dense`,
:class:`Conv`, :class:`Pool`, :class:`Flatten`) on which quantization, mapping and circuit
inference work without TensorFlow.

Architectures (input: binarized 28x28 images, shape (28, 28, 1)):

* MLP: Flatten, 1-4 hidden Dense(relu) layers of 8-128 units, Dense(softmax).
* CNN: 1-3 x [Conv2D(filters, 3x3, relu, 'valid') + MaxPooling2D(p x p)], Flatten,
  one Dense(relu) hidden layer of 8-128 units, Dense(softmax).

Training: SGD (lr 0.1, momentum 0.9), sparse categorical cross-entropy, batch 32, 10 % of the
training set held out for validation (Keras takes the *last* 10 %), no regularization, 30 epochs
unless overridden. Seeds: :func:`train` calls ``keras.utils.set_random_seed(seed)``, which seeds
Python, NumPy's legacy global generator and TensorFlow for the whole process (Keras offers no
per-model seed for initializers and shuffling together). That global side effect is confined to
the trainer; CPU thread scheduling can still make results differ in the last bits between runs.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._validate import check_int
from ..errors import InputError
from ..io import atomic_path
from . import ops as _ops
from .ops import (
    Conv,
    Dense,
    Flatten,
    Op,
    Pool,
    activate,
    float_product,
    im2col,
    max_pool,
    n_synapses,
    weighted,
)

# The op names are re-exported from xbarsim.nn.ops, where they live.
__all__ = [
    "ArchSpec",
    "Conv",
    "Dense",
    "Flatten",
    "Op",
    "Pool",
    "TrainResult",
    "activate",
    "build_model",
    "extract",
    "forward",
    "history_path",
    "im2col",
    "load_model",
    "load_or_train",
    "load_record",
    "max_pool",
    "n_synapses",
    "save",
    "spec_from_record",
    "train",
    "weighted",
]

log = logging.getLogger(__name__)

Arch = Literal["mlp", "cnn"]
INPUT_SHAPE = (28, 28, 1)
N_CLASSES = 10
HIDDEN_RANGE = (8, 128)
FILTER_CHOICES = (8, 16, 32)


@dataclass(frozen=True)
class ArchSpec:
    """One network of the Romero-Zaliz grid.

    Attributes
    ----------
    arch:
        ``"mlp"`` or ``"cnn"``.
    hidden:
        Units of each hidden dense layer (8-128).
    layers:
        Number of hidden dense layers of an MLP (1-4); a CNN always has one.
    conv:
        Number of conv+pool blocks of a CNN (1-3).
    filters:
        Filters of every conv layer (8, 16 or 32).
    pool:
        Pooling size p (p x p, stride p), 2-8; must leave at least 1x1 after every block.
    input_shape:
        (H, W, C) of the input images.
    """

    arch: Arch = "mlp"
    hidden: int = 128
    layers: int = 1
    conv: int = 1
    filters: int = 16
    pool: int = 2
    input_shape: tuple[int, int, int] = INPUT_SHAPE
    n_classes: int = N_CLASSES

    def __post_init__(self) -> None:
        if self.arch not in ("mlp", "cnn"):
            raise InputError(f"arch must be 'mlp' or 'cnn', got {self.arch!r}")
        for name, lo, hi in (("hidden", *HIDDEN_RANGE), ("layers", 1, 4), ("conv", 1, 3), ("pool", 2, 8)):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=lo, maximum=hi))
        if self.filters not in FILTER_CHOICES:
            raise InputError(f"filters must be one of {FILTER_CHOICES}, got {self.filters!r}")
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise InputError(f"input_shape must be (H, W, C) positive, got {self.input_shape}")
        if self.arch == "cnn":
            self.conv_shapes()  # raises when pooling leaves nothing

    def conv_shapes(self) -> list[tuple[int, int, int]]:
        """(H, W, C) after each conv+pool block; raise if a block would shrink below 1x1."""
        h, w, _ = self.input_shape
        shapes = []
        for k in range(self.conv):
            if h < 3 or w < 3:
                raise InputError(
                    f"conv layer {k + 1} of {self.conv} gets a {h}x{w} map, smaller than its 3x3 kernel"
                )
            h, w = h - 2, w - 2
            if h < self.pool or w < self.pool:
                raise InputError(
                    f"pooling {self.pool}x{self.pool} after conv layer {k + 1} of {self.conv} does not fit "
                    f"its {h}x{w} output; use fewer conv layers or a smaller pool"
                )
            h, w = h // self.pool, w // self.pool
            shapes.append((h, w, self.filters))
        return shapes

    @property
    def label(self) -> str:
        if self.arch == "mlp":
            return f"mlp-{self.layers}x{self.hidden}"
        return f"cnn-{self.conv}c{self.filters}f-p{self.pool}-{self.hidden}"


# --------------------------------------------------------------------------- NumPy layer ops


def forward(ops: Sequence[Op], x: np.ndarray, *, logits: bool = False) -> np.ndarray:
    """Float NumPy forward pass of ``ops`` on images (B, H, W, C) (or (B, H, W), a channel is added).

    With ``logits=True`` the final softmax is skipped (argmax is unchanged). The ops themselves
    and the shared forward pass live in :mod:`xbarsim.nn.ops`.
    """
    return _ops.forward(ops, x, float_product, logits=logits)


# --------------------------------------------------------------------------- Keras side


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise InputError(f"TensorFlow/Keras is needed for training ({exc}); install xbarsim[ml]") from None
    return keras


def build_model(spec: ArchSpec):
    """The uncompiled Keras model of ``spec`` (weights initialised from Keras' global seed)."""
    keras = _keras()
    L = keras.layers
    layers: list[Any] = [keras.Input(shape=spec.input_shape)]
    if spec.arch == "mlp":
        layers.append(L.Flatten(name="flatten"))
        for k in range(spec.layers):
            layers.append(L.Dense(spec.hidden, activation="relu", name=f"dense{k + 1}"))
    else:
        for k in range(spec.conv):
            layers.append(
                L.Conv2D(spec.filters, (3, 3), activation="relu", padding="valid", name=f"conv{k + 1}")
            )
            layers.append(L.MaxPooling2D((spec.pool, spec.pool), name=f"pool{k + 1}"))
        layers.append(L.Flatten(name="flatten"))
        layers.append(L.Dense(spec.hidden, activation="relu", name="dense1"))
    layers.append(L.Dense(spec.n_classes, activation="softmax", name="output"))
    return keras.Sequential(layers, name=spec.label.replace("-", "_"))


@dataclass
class TrainResult:
    """A trained model and its training record.

    ``learning_rate``, ``momentum``, ``batch_size`` and ``validation_split`` are the settings
    :func:`train` actually used (the defaults are :func:`train`'s), so a cached model's record
    says how it was made.
    """

    model: Any
    spec: ArchSpec
    history: dict[str, list[float]]
    epochs: int
    seed: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)
    learning_rate: float = 0.1
    momentum: float = 0.9
    batch_size: int = 32
    validation_split: float = 0.1

    def record(self) -> dict[str, Any]:
        """JSON-ready training record."""
        return {
            "spec": asdict(self.spec),
            "epochs": self.epochs,
            "seed": self.seed,
            "seconds": self.seconds,
            "optimizer": {"name": "SGD", "learning_rate": self.learning_rate, "momentum": self.momentum},
            "batch_size": self.batch_size,
            "validation_split": self.validation_split,
            "history": self.history,
            **self.extra,
        }


def train(
    spec: ArchSpec,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int = 30,
    batch_size: int = 32,
    learning_rate: float = 0.1,
    momentum: float = 0.9,
    validation_split: float = 0.1,
    seed: int = 0,
    verbose: int = 0,
) -> TrainResult:
    """Train the network of ``spec`` on images ``x`` (N, H, W[, C]) with integer labels ``y``.

    Calls ``keras.utils.set_random_seed(seed)`` (process-global, see the module docstring).
    """
    from .._validate import check_real

    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    learning_rate = check_real(learning_rate, "learning rate", positive=True)
    momentum = check_real(momentum, "momentum", nonneg=True)
    validation_split = check_real(validation_split, "validation split", nonneg=True)
    if not validation_split < 1:
        raise InputError(f"validation split must be in [0, 1), got {validation_split}")
    xa = np.asarray(x, dtype=np.float32)
    if xa.ndim == 3:
        xa = xa[..., None]
    if xa.shape[1:] != spec.input_shape:
        raise InputError(f"training images have shape {xa.shape[1:]}, the network expects {spec.input_shape}")
    ya = np.asarray(y).astype(np.int64).ravel()
    if ya.shape[0] != xa.shape[0]:
        raise InputError(f"{xa.shape[0]} images but {ya.shape[0]} labels")
    if ya.min() < 0 or ya.max() >= spec.n_classes:
        raise InputError(f"labels must be in 0..{spec.n_classes - 1}")
    keras = _keras()
    keras.utils.set_random_seed(int(seed))
    model = build_model(spec)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    t0 = time.perf_counter()
    hist = model.fit(
        xa,
        ya,
        epochs=epochs,
        batch_size=batch_size,
        validation_split=validation_split,
        shuffle=True,
        verbose=verbose,
    )
    seconds = time.perf_counter() - t0
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    log.info(
        "trained %s for %d epochs in %.1f s: %s",
        spec.label,
        epochs,
        seconds,
        {k: round(v[-1], 4) for k, v in history.items()},
    )
    return TrainResult(
        model,
        spec,
        history,
        epochs,
        int(seed),
        seconds,
        learning_rate=learning_rate,
        momentum=momentum,
        batch_size=batch_size,
        validation_split=validation_split,
    )


def history_path(model_path: str | os.PathLike[str]) -> Path:
    """Where the training record of ``model.keras`` lives: ``model.history.json``."""
    p = Path(model_path)
    return p.with_name(p.stem + ".history.json")


def save(result: TrainResult, path: str | os.PathLike[str]) -> Path:
    """Save the model as ``.keras`` and its training record as JSON next to it."""
    p = Path(path)
    if p.suffix != ".keras":
        raise InputError(f"model file must end in .keras, got {p.name!r}")
    p.parent.mkdir(parents=True, exist_ok=True)
    result.model.save(p)
    history_path(p).write_text(json.dumps(result.record(), indent=2) + "\n")
    return p


def load_model(path: str | os.PathLike[str]):
    """Load a ``.keras`` model; :class:`InputError` if missing or unreadable."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"model file not found: {p}")
    keras = _keras()
    try:
        return keras.models.load_model(p, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for a bad archive
        raise InputError(f"cannot load Keras model {p}: {type(exc).__name__}: {exc}") from None


def load_record(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The training record saved next to a model, or None."""
    h = history_path(path)
    return json.loads(h.read_text()) if h.is_file() else None


def load_or_train(
    path: str | os.PathLike[str],
    spec: ArchSpec,
    data: tuple[np.ndarray, np.ndarray] | Callable[[], tuple[np.ndarray, np.ndarray]] | np.ndarray,
    y: np.ndarray | None = None,
    *,
    epochs: int,
    seed: int,
    dataset: str,
) -> tuple[Any, dict[str, Any]]:
    """The model cached at ``path`` and its record, or train it (:func:`train`) and save it there first.

    ``data`` is the training set ``(x, y)`` or a zero-argument callable returning it, called only
    when training is needed (``load_or_train(path, spec, x, y, ...)`` works too). Processes that
    share a cache (sweep workers) take an exclusive lock on ``<path>.lock`` while checking and
    training, so one trains and the others load its result; model and record are written to
    temporary files and renamed into place, so a reader never sees half a model.
    """
    import fcntl

    p = Path(path)
    if p.is_file():
        return load_model(p), load_record(p) or {}
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p.with_name(p.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if p.is_file():  # another process trained it while we waited
            return load_model(p), load_record(p) or {}
        if y is not None:
            x, labels = data, y
        elif callable(data):
            x, labels = data()
        else:
            x, labels = data
        result = train(spec, np.asarray(x), np.asarray(labels), epochs=epochs, seed=seed)
        result.extra["dataset"] = dataset
        with atomic_path(p, suffix=".keras") as tmp:  # renamed last: the model says the pair is complete
            save(result, tmp)
            history_path(tmp).replace(history_path(p))
            history_path(tmp).unlink(missing_ok=True)
    log.info("trained %s in %.1f s -> %s", spec.label, result.seconds, p)
    return result.model, result.record()


def extract(model) -> list[Op]:
    """The layers of a trained Sequential Keras model as NumPy ops (float64 copies of the weights)."""
    ops: list[Op] = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        if kind in ("Dense", "Conv2D"):
            W, b = (np.array(w, dtype=np.float64) for w in layer.get_weights())
            act = layer.get_config()["activation"]
            if act not in _ops.ACTIVATIONS:
                raise InputError(f"layer {layer.name}: activation {act!r} is not supported")
            if kind == "Conv2D":
                cfg = layer.get_config()
                if (
                    tuple(cfg["strides"]) != (1, 1)
                    or cfg["padding"] != "valid"
                    or tuple(cfg["dilation_rate"]) != (1, 1)
                ):
                    raise InputError(
                        f"layer {layer.name}: only 'valid' stride-1 undilated convolutions are mapped"
                    )
                ops.append(Conv(W, b, act, layer.name))
            else:
                ops.append(Dense(W, b, act, layer.name))
        elif kind == "MaxPooling2D":
            cfg = layer.get_config()
            p = tuple(cfg["pool_size"])
            if p[0] != p[1] or tuple(cfg["strides"]) != p or cfg["padding"] != "valid":
                raise InputError(
                    f"layer {layer.name}: only square 'valid' pooling with stride = size is supported"
                )
            ops.append(Pool(int(p[0])))
        elif kind == "Flatten":
            ops.append(Flatten())
        else:
            raise InputError(f"layer {layer.name} of type {kind} is not supported by the crossbar mapping")
    if not ops or not isinstance(ops[-1], (Dense, Conv)):
        raise InputError("the model must end with a Dense (softmax) layer")
    return ops


def spec_from_record(record: dict[str, Any] | None) -> ArchSpec | None:
    """The :class:`ArchSpec` stored in a training record, if any."""
    if not record or "spec" not in record:
        return None
    s = dict(record["spec"])
    s["input_shape"] = tuple(s.get("input_shape", INPUT_SHAPE))
    return ArchSpec(**s)
