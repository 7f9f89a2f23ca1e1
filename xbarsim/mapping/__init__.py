"""Weights -> conductances -> tiled crossbars, and back to weight units.

The package is split by concern; every public name is importable from ``xbarsim.mapping``:

* :mod:`~xbarsim.mapping.layers`: the affine map of augmented weights ``[W; b]`` onto
  differential pairs or an offset column, tiling into arrays of at most T x T, conductance levels
  (:class:`Tile`, :class:`MappedLayer`, :func:`map_matrix`, :func:`augment`, :func:`n_tiles_for`);
* :mod:`~xbarsim.mapping.evaluate`: read voltages, tile currents through a backend, scaling back,
  whole models through the shared forward pass of :mod:`xbarsim.nn.ops` (:class:`TileSolver`,
  :func:`layer_forward`, :func:`ideal_forward`, :class:`MappedModel`, :func:`map_model`,
  :func:`model_forward`, :class:`LayerError`);
* :mod:`~xbarsim.mapping.calibration`: per-column digital gains (:func:`calibrate`,
  :func:`calibrate_layer`);
* :mod:`~xbarsim.mapping.converters`: DACs on layer inputs and ADCs on tile columns
  (:func:`with_converters`, :func:`calibrate_converters`, :class:`LayerConverters`).
"""

from __future__ import annotations

from .calibration import CALIBRATIONS, Calibration, calibrate, calibrate_layer, layer_inputs
from .converters import (
    LayerConverters,
    calibrate_converters,
    describe_converters,
    parse_adc_range,
    signed_inputs,
    with_converters,
)
from .evaluate import (
    TILE_CACHE,
    LayerError,
    MappedModel,
    TileSolver,
    combine_tiles,
    ideal_forward,
    input_voltages,
    layer_forward,
    map_model,
    model_forward,
    sense_tiles,
    tile_outputs,
)
from .layers import DEFAULT_TILE, SCHEMES, MappedLayer, Scheme, Tile, augment, map_matrix, n_tiles_for

__all__ = [
    "CALIBRATIONS",
    "DEFAULT_TILE",
    "SCHEMES",
    "TILE_CACHE",
    "Calibration",
    "LayerConverters",
    "LayerError",
    "MappedLayer",
    "MappedModel",
    "Scheme",
    "Tile",
    "TileSolver",
    "augment",
    "calibrate",
    "calibrate_converters",
    "calibrate_layer",
    "combine_tiles",
    "describe_converters",
    "ideal_forward",
    "input_voltages",
    "layer_forward",
    "layer_inputs",
    "map_matrix",
    "map_model",
    "model_forward",
    "n_tiles_for",
    "parse_adc_range",
    "sense_tiles",
    "signed_inputs",
    "tile_outputs",
    "with_converters",
]
