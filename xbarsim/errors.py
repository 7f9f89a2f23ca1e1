"""Typed exceptions: every failure a user can cause or meet has one class here.

The CLI turns any :class:`XbarsimError` into one line on stderr and exit code 2.
"""

from __future__ import annotations


class XbarsimError(Exception):
    """Base class of every error xbarsim raises on purpose."""


class InputError(XbarsimError, ValueError):
    """A value, shape, file or name given by the user is not acceptable."""


class BackendUnavailable(XbarsimError):
    """The requested backend is unknown or its dependency is not installed."""


class NgspiceNotFound(BackendUnavailable):
    """The ngspice executable or shared library cannot be found."""


class SimulationError(XbarsimError):
    """The simulator ran but failed (bad deck, crash, unparsable output)."""


class ConvergenceError(SimulationError):
    """The operating point (or Newton iteration) did not converge."""


class SimulationTimeout(SimulationError):
    """The simulator did not finish within its time limit."""


class TopologyError(InputError):
    """The circuit graph is malformed: floating node, no DC path to ground, dangling element."""


class Terminated(BaseException):
    """SIGTERM arrived: raised in the main thread by the CLI so every ``finally`` (killing ngspice,
    removing temporary directories) runs, as for Ctrl-C. Not an :class:`XbarsimError` on purpose:
    ``except Exception`` blocks must not swallow it."""
