"""Converters of a mapped network: a DAC on each layer's input voltages, an ADC on each tile's columns.

Where they sit (the digital periphery of every tile):

* **DAC** (:class:`xbarsim.periphery.Driver` with ``bits``): the read voltages of a layer,
  ``V = v_read * [x, 1] / s`` (:func:`~xbarsim.mapping.evaluate.input_voltages`), are rounded
  to ``2**bits`` levels over ``[0, v_read]`` before the analog solve, the bias row included (it is
  driven like any other row). Binary pixels (0 or v_read) and the bias row of the first layer are
  levels at any ``bits >= 1``, so the first layer is exact; later layers see their digital
  activations quantized. A layer whose inputs can be negative (its previous weighted layer has no
  rectifying activation) gets a DAC over ``[-v_read, v_read]`` and a signed ADC; both are
  mid-rise (:func:`xbarsim.periphery.quantize_uniform`: an even number of levels, so 0 itself
  becomes +-lsb/2). The Romero-Zaliz networks rectify every hidden layer, so theirs are unsigned.
* **ADC** (:class:`xbarsim.periphery.ADC`): one converter per sensed column of every tile, on
  the raw column current, *before* the digital gain trim (:func:`~xbarsim.mapping.calibrate`),
  the differential (or reference) subtraction and the addition of the row tiles' partial sums.
  That is where a tile's column ADCs sit on a chip that reads each bit line; the subtraction
  and the partial-sum adder are digital. It is also the harder case: each column current carries
  the common-mode current of the g_min cells, which spends codes the difference never uses.
  Unsigned (``[0, full_scale]``) when the layer's inputs are non-negative: column currents are
  then non-negative.

Full scale: a fixed value in amperes (every column), or ``"auto"``: calibrated per column as the
largest current that column carries on calibration images (training images, never the test set),
sensed through the same solver the evaluation uses (:func:`calibrate_converters`). Layers are
calibrated in order, each on the inputs the converted circuit itself gives it (layer 1's ADC
codes feed layer 2's calibration), which is what a chip's own calibration run would see.

Converters act only on the circuit path (a :class:`~xbarsim.mapping.evaluate.TileSolver`); the
ideal product (``model_forward(model, x)`` without a solver) has no periphery to convert.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validate import check_real
from ..errors import InputError
from ..periphery import ADC, Driver
from .layers import MappedLayer

if TYPE_CHECKING:
    from .evaluate import MappedModel, TileSolver

#: Activations whose outputs are never negative: the next layer's DAC and ADCs can be unsigned.
NON_NEGATIVE = ("relu", "softmax")


@dataclass(frozen=True, eq=False)
class LayerConverters:
    """The converters of one mapped layer.

    Attributes
    ----------
    dac:
        Driver applied to the layer's read voltages (B, n_in + 1) before the solve, or ``None``.
    adcs:
        One :class:`ADC` per tile (in the order of ``layer.tiles``) applied to that tile's sensed
        column currents, or ``None``. An ADC without a full scale must be calibrated first.
    """

    dac: Driver | None = None
    adcs: tuple[ADC, ...] | None = None

    @property
    def calibrated(self) -> bool:
        return self.adcs is None or all(a.full_scale is not None for a in self.adcs)

    def check(self, layer: MappedLayer) -> None:
        """The ADCs fit the layer's tiles (count, per-column full scales); InputError if not."""
        if self.adcs is None:
            return
        if len(self.adcs) != len(layer.tiles):
            raise InputError(f"layer {layer.name}: {len(self.adcs)} ADCs for {len(layer.tiles)} tiles")
        for adc, t in zip(self.adcs, layer.tiles):
            fs = adc.full_scale
            if isinstance(fs, np.ndarray) and fs.shape != (t.crossbar.n_outputs,):
                raise InputError(
                    f"layer {layer.name}: ADC with {fs.size} column full scales for a tile of "
                    f"{t.crossbar.n_outputs} columns"
                )

    def voltages(self, V: np.ndarray) -> np.ndarray:
        """Read voltages after the DAC."""
        return V if self.dac is None else self.dac.apply(V)

    def currents(self, k: int, I: np.ndarray) -> np.ndarray:
        """Tile ``k``'s sensed currents after its ADC."""
        return I if self.adcs is None else self.adcs[k].convert(I)


def signed_inputs(model: MappedModel) -> list[bool]:
    """Per mapped layer: can its inputs be negative? (The first layer takes images in [0, 1].)"""
    out: list[bool] = []
    prev: MappedLayer | None = None
    for layer in model.layers:
        out.append(prev is not None and prev.activation not in NON_NEGATIVE)
        prev = layer
    return out


def parse_adc_range(value: Any, what: str = "ADC range") -> float | None:
    """``"auto"`` -> ``None`` (calibrate from data); otherwise a positive finite full scale in amperes."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return None
        try:
            value = float(text)
        except ValueError:
            raise InputError(
                f"{what} must be 'auto' or a full-scale current in amperes, got {value!r}"
            ) from None
    return check_real(value, what, positive=True)


def with_converters(
    model: MappedModel,
    *,
    adc_bits: int | None = None,
    adc_range: float | str | None = "auto",
    dac_bits: int | None = None,
) -> MappedModel:
    """A copy of ``model`` with ``adc_bits`` ADCs on every tile column and ``dac_bits`` DACs on every layer.

    ``adc_range`` is the ADC full scale in amperes for every column, or ``"auto"`` / ``None``: the
    ADCs are left uncalibrated and :func:`calibrate_converters` must set them from data before the
    model is evaluated. ``adc_bits=None`` and ``dac_bits=None`` (both) remove the converters.
    """
    fs = None if adc_range is None else parse_adc_range(adc_range)
    if adc_bits is None and dac_bits is None:
        return replace(model, converters=None)
    convs = []
    for layer, signed in zip(model.layers, signed_inputs(model)):
        dac = None
        if dac_bits is not None:
            dac = Driver(bits=dac_bits, v_min=-layer.v_read if signed else 0.0, v_max=layer.v_read)
        adcs = None
        if adc_bits is not None:
            adcs = tuple(ADC(adc_bits, fs, signed=signed) for _ in layer.tiles)
        convs.append(LayerConverters(dac, adcs))
    return replace(model, converters=tuple(convs))


def calibrate_converters(
    model: MappedModel, solver: TileSolver, x: np.ndarray, *, percentile: float = 100.0
) -> MappedModel:
    """Set every ADC's per-column full scale from the circuit's own currents on calibration images ``x``.

    Layers are calibrated in order: each layer's inputs come from the already converted layers
    before it, its read voltages go through its DAC and its tiles through ``solver``; each column's
    full scale becomes the ``percentile`` of its |current| over all calibration vectors (100: the
    largest, nothing clips on the calibration set). ADCs that already have a full scale are
    re-calibrated too. Use training images, never the test set.
    """
    from ..nn.ops import forward
    from .evaluate import combine_tiles, sense_tiles

    if model.converters is None or all(c is None or c.adcs is None for c in model.converters):
        return model
    x = np.asarray(x)
    if x.ndim < 2 or x.shape[0] < 1:
        raise InputError("ADC calibration needs at least one calibration image")
    new: list[LayerConverters | None] = []

    def product(k: int, layer: MappedLayer, X: np.ndarray) -> np.ndarray:
        conv = model.converters[k] if model.converters else None
        s, currents = sense_tiles(layer, X, solver, conv)
        if conv is not None and conv.adcs is not None:
            adcs = tuple(
                _calibrated(adc, I, layer.v_read * t.crossbar.G.sum(axis=0), percentile)
                for adc, I, t in zip(conv.adcs, currents, layer.tiles)
            )
            conv = replace(conv, adcs=adcs)
        new.append(conv)
        return combine_tiles(layer, s, currents, conv)

    forward(model.ops, x, product, logits=True)
    return replace(model, converters=tuple(new))


def describe_converters(model: MappedModel) -> list[dict[str, Any]]:
    """Per mapped layer: DAC and ADC bits and the range of the ADC full scales (amperes), JSON-ready."""
    out: list[dict[str, Any]] = []
    for layer, conv in zip(model.layers, model.converters or (None,) * len(model.layers)):
        row: dict[str, Any] = {"layer": layer.name, "dac_bits": None, "adc_bits": None}
        if conv is not None and conv.dac is not None:
            row["dac_bits"] = conv.dac.bits
        if conv is not None and conv.adcs:
            fs = [np.asarray(a.full_scale, dtype=np.float64) for a in conv.adcs if a.full_scale is not None]
            row["adc_bits"] = conv.adcs[0].bits
            row["adc_signed"] = conv.adcs[0].signed
            if fs:
                row["adc_full_scale_min"] = float(min(f.min() for f in fs))
                row["adc_full_scale_max"] = float(max(f.max() for f in fs))
        out.append(row)
    return out


def _calibrated(adc: ADC, I: np.ndarray, bound: np.ndarray, percentile: float) -> ADC:
    """``adc`` calibrated on currents I; a tile the calibration data never drives gets its ideal bound.

    ``bound`` is each column's current with every row at v_read (no cell or wire loss): an upper
    bound of what the column can carry, used when every calibration current of the tile is 0
    (e.g. a tile of image-corner pixels that are dark in every calibration image).
    """
    if not np.any(I):
        return replace(adc, full_scale=np.where(bound > 0, bound, 1.0))
    return adc.calibrated(I, percentile=percentile)


__all__ = [
    "NON_NEGATIVE",
    "LayerConverters",
    "calibrate_converters",
    "describe_converters",
    "parse_adc_range",
    "signed_inputs",
    "with_converters",
]
