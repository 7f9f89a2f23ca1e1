"""The circuit around the array: input drivers (DAC), buffers between layers, output converters (ADC).

These are frozen specs plus the pure functions that give them their meaning, so every backend
applies them identically:

* :class:`Driver` acts on the input voltages *before* the analog solve: an optional DAC that
  quantizes each requested voltage to ``2**bits`` levels over ``[v_min, v_max]`` (clipping
  outside), then an offset voltage added to every driven row (Kim et al. 2024 add the diode
  threshold, 0.65 V, to the input voltage). ``offset_inputs="active"`` adds the offset only to
  rows whose requested voltage is not 0 (a dark pixel's driver stays at 0 V); ``"all"`` adds it
  to every row, so an input of 0 V is driven at the offset. The driver's output resistance stays
  the crossbar's ``r_driver``.
* :class:`Buffer` couples two layers of a network actively: each sensed output of layer k
  re-drives the matching row of layer k+1 through an ideal voltage source
  ``v = clamp(gain * v_sense + offset)``. An ideal buffer draws no current, so the layers
  decouple exactly (the native solver solves them one after the other; a SPICE deck uses a
  controlled source).
* :class:`ADC` acts on the sensed outputs *after* the analog solve, digitally: a uniform
  quantizer with ``2**bits`` codes over ``[-full_scale, full_scale]`` (signed) or
  ``[0, full_scale]`` (unsigned), clipping outside; the result is returned in the input's units
  (the code's reconstruction value), so downstream arithmetic is unchanged. The full scale is
  fixed, or calibrated per column from data (:meth:`ADC.calibrated`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from ._validate import check_int, check_real
from .errors import InputError

OffsetInputs = Literal["all", "active"]
OFFSET_INPUTS: tuple[str, ...] = ("all", "active")
#: Largest converter resolution accepted (2**24 codes is beyond any crossbar ADC or DAC).
MAX_BITS = 24


def _check_bits(bits: object, what: str) -> int | None:
    if bits is None:
        return None
    return check_int(bits, what, minimum=1, maximum=MAX_BITS)


def quantize_uniform(x: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float, bits: int) -> np.ndarray:
    """Round ``x`` to the nearest of ``2**bits`` levels spread evenly over ``[lo, hi]``.

    Level k (0 .. 2**bits - 1) is ``lo + k * (hi - lo) / (2**bits - 1)``, so both ends are
    levels (a converter's full-scale codes; for a signed range 0 falls between two codes, as in a
    mid-rise converter); values outside are clipped to the nearest end. ``lo`` and ``hi``
    broadcast against ``x`` (per-column ranges).
    """
    x = np.asarray(x, dtype=np.float64)
    lo_a = np.asarray(lo, dtype=np.float64)
    hi_a = np.asarray(hi, dtype=np.float64)
    n = (1 << bits) - 1
    span = hi_a - lo_a
    safe = np.where(span > 0, span, 1.0)
    k = np.rint((np.clip(x, lo_a, hi_a) - lo_a) / safe * n)
    return np.where(span > 0, lo_a + k * span / n, lo_a)


@dataclass(frozen=True)
class Driver:
    """Input driver of every row of a layer: optional DAC, then an offset voltage.

    Attributes
    ----------
    offset:
        Volts added to the driven row voltage (after the DAC), e.g. a diode threshold.
    offset_inputs:
        ``"all"`` (every row, also those asked for 0 V) or ``"active"`` (rows asked for a
        non-zero voltage only).
    bits:
        DAC resolution (``None``: no quantization, the requested voltage is applied exactly).
    v_min, v_max:
        DAC output range in volts (required with ``bits``): requested voltages are clipped to it
        and rounded to the nearest of its ``2**bits`` evenly spaced levels.
    """

    offset: float = 0.0
    offset_inputs: OffsetInputs = "all"
    bits: int | None = None
    v_min: float | None = None
    v_max: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "offset", check_real(self.offset, "driver offset voltage"))
        if self.offset_inputs not in OFFSET_INPUTS:
            raise InputError(
                f"driver offset_inputs must be one of {', '.join(OFFSET_INPUTS)}, got {self.offset_inputs!r}"
            )
        object.__setattr__(self, "bits", _check_bits(self.bits, "DAC bits"))
        if self.bits is None:
            if self.v_min is not None or self.v_max is not None:
                raise InputError("a DAC range (v_min, v_max) needs DAC bits")
            return
        if self.v_min is None or self.v_max is None:
            raise InputError("DAC bits need a range: give v_min and v_max in volts")
        lo = check_real(self.v_min, "DAC v_min")
        hi = check_real(self.v_max, "DAC v_max")
        if not hi > lo:
            raise InputError(f"DAC range needs v_max > v_min, got [{lo}, {hi}]")
        object.__setattr__(self, "v_min", lo)
        object.__setattr__(self, "v_max", hi)

    @property
    def is_identity(self) -> bool:
        """True when the driver applies the requested voltages unchanged."""
        return self.bits is None and self.offset == 0.0

    def apply(self, V: np.ndarray) -> np.ndarray:
        """The row voltages (B, M) the drivers put out for requested voltages V (B, M)."""
        V = np.asarray(V, dtype=np.float64)
        out = V if self.bits is None else quantize_uniform(V, self.v_min, self.v_max, self.bits)  # type: ignore[arg-type]
        if self.offset == 0.0:
            return np.array(out, copy=True)
        if self.offset_inputs == "all":
            return out + self.offset
        return np.where(V != 0.0, out + self.offset, out)


@dataclass(frozen=True)
class Buffer:
    """Ideal buffer from each sensed output of a layer to the next layer's row.

    Attributes
    ----------
    gain:
        Voltage gain (> 0: an inverting stage would flip the sign of every weight of the next layer;
        build that into the mapping instead).
    offset:
        Volts added after the gain.
    clamp:
        ``None`` or ``(lo, hi)`` volts: the buffer's output swing (rails).
    """

    gain: float = 1.0
    offset: float = 0.0
    clamp: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "gain", check_real(self.gain, "buffer gain", positive=True))
        object.__setattr__(self, "offset", check_real(self.offset, "buffer offset voltage"))
        if self.clamp is not None:
            try:
                lo_v, hi_v = self.clamp
            except (TypeError, ValueError):
                raise InputError(f"buffer clamp must be (lo, hi) volts, got {self.clamp!r}") from None
            lo = check_real(lo_v, "buffer clamp low")
            hi = check_real(hi_v, "buffer clamp high")
            if not hi > lo:
                raise InputError(f"buffer clamp needs hi > lo, got ({lo}, {hi})")
            object.__setattr__(self, "clamp", (lo, hi))

    def apply(self, v: np.ndarray) -> np.ndarray:
        """Buffer output voltages for sensed voltages ``v`` (any shape)."""
        out = self.gain * np.asarray(v, dtype=np.float64) + self.offset
        if self.clamp is not None:
            out = np.clip(out, self.clamp[0], self.clamp[1])
        return out


@dataclass(frozen=True, eq=False)
class ADC:
    """Digital converter of sensed outputs (currents or voltages, in their SI units).

    Attributes
    ----------
    bits:
        Resolution: ``2**bits`` codes.
    full_scale:
        ``None`` (not yet calibrated: :meth:`convert` needs one), a positive number, or one
        positive number per column (array of shape (N,)), in the outputs' units.
    signed:
        True: codes span ``[-full_scale, full_scale]``; False: ``[0, full_scale]``.
    """

    bits: int
    full_scale: float | np.ndarray | None = None
    signed: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "bits", _check_bits(self.bits, "ADC bits"))
        if not isinstance(self.signed, bool):
            raise InputError(f"ADC signed must be True or False, got {self.signed!r}")
        fs = self.full_scale
        if fs is None:
            return
        arr = np.array(fs, dtype=np.float64) if not isinstance(fs, bool) else np.array(np.nan)
        if arr.ndim > 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise InputError(f"ADC full scale must be a positive finite number or one per column, got {fs!r}")
        if arr.ndim == 0:
            object.__setattr__(self, "full_scale", float(arr))
        else:
            arr.setflags(write=False)
            object.__setattr__(self, "full_scale", arr)

    @property
    def lsb(self) -> float | np.ndarray:
        """One code step in the outputs' units."""
        if self.full_scale is None:
            raise InputError("the ADC has no full scale yet: give one or calibrate it on data")
        span = 2.0 * np.asarray(self.full_scale) if self.signed else np.asarray(self.full_scale)
        step = span / ((1 << self.bits) - 1)
        return float(step) if step.ndim == 0 else step

    def convert(self, y: np.ndarray) -> np.ndarray:
        """Quantize (B, N) outputs: clip to the range, round to the nearest code, return its value."""
        if self.full_scale is None:
            raise InputError("the ADC has no full scale yet: give one or calibrate it on data")
        y = np.asarray(y, dtype=np.float64)
        fs = np.asarray(self.full_scale, dtype=np.float64)
        if fs.ndim == 1 and (y.ndim < 1 or y.shape[-1] != fs.size):
            raise InputError(f"ADC has {fs.size} per-column full scales for outputs of shape {y.shape}")
        lo = -fs if self.signed else np.zeros_like(fs)
        return quantize_uniform(y, lo, fs, self.bits)

    def calibrated(self, y: np.ndarray, *, per_column: bool = True, percentile: float = 100.0) -> ADC:
        """A copy whose full scale covers the given outputs (B, N): per column or one for all.

        The full scale is the ``percentile`` of |y| (100: the largest magnitude, nothing clips on
        the calibration data); a column whose outputs are all 0 keeps the largest scale found.
        """
        y = np.abs(np.asarray(y, dtype=np.float64))
        if y.ndim != 2 or y.shape[0] == 0:
            raise InputError(f"ADC calibration needs outputs of shape (B, N) with B >= 1, got {y.shape}")
        if not np.all(np.isfinite(y)):
            raise InputError("ADC calibration outputs must be finite")
        p = check_real(percentile, "ADC calibration percentile")
        if not 0 < p <= 100:
            raise InputError(f"ADC calibration percentile must be in (0, 100], got {p}")
        fs = np.percentile(y, p, axis=0) if per_column else np.array(np.percentile(y, p))
        top = float(np.max(fs))
        if not top > 0 or not math.isfinite(top):
            raise InputError("ADC calibration outputs are all zero: no full scale can be derived")
        fs = np.where(fs > 0, fs, top)
        return replace(self, full_scale=fs if per_column else float(fs))


__all__ = ["ADC", "MAX_BITS", "OFFSET_INPUTS", "Buffer", "Driver", "quantize_uniform"]
