"""xbarsim: circuit-level co-simulation of neural networks on memristor crossbars.

Importing this package stays light: NumPy only. TensorFlow, PySpice, Dask and matplotlib are
imported inside the functions that need them.
"""

from __future__ import annotations

from .backends import available_backends, get_backend, solve
from .circuit import CellModel, Crossbar, DiodeModel, Network, NmosModel
from .errors import (
    BackendUnavailable,
    ConvergenceError,
    InputError,
    NgspiceNotFound,
    SimulationError,
    SimulationTimeout,
    TopologyError,
    XbarsimError,
)
from .periphery import ADC, Buffer, Driver
from .solution import Solution

__version__ = "0.1.0"

__all__ = [
    "ADC",
    "BackendUnavailable",
    "Buffer",
    "CellModel",
    "ConvergenceError",
    "Crossbar",
    "DiodeModel",
    "Driver",
    "InputError",
    "Network",
    "NgspiceNotFound",
    "NmosModel",
    "SimulationError",
    "SimulationTimeout",
    "Solution",
    "TopologyError",
    "XbarsimError",
    "__version__",
    "available_backends",
    "get_backend",
    "solve",
]
