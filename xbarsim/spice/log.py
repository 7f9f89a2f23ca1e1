"""Reading ngspice's console output (pure text functions, used by both ngspice backends).

ngspice prints notes and warnings on stderr even when a run succeeds ("Note: No compatibility
mode selected!", gmin-stepping progress, "Warning: singular matrix" that it then recovers from),
so log text alone never decides success: the caller decides from the exit status and the raw
file, and uses these functions only to say *why* a run failed.
"""

from __future__ import annotations

import re

from ..errors import ConvergenceError, SimulationError

#: Lines that mean the operating point or a sweep point was not found.
_CONVERGENCE = re.compile(
    r"(dc solution failed|gmin stepping failed|source stepping failed|timestep too small|"
    r"transient op failed|iteration limit|no convergence|convergence failed|trouble with node|"
    r"singular matrix|op: .*failed)",
    re.IGNORECASE,
)
#: Lines that report an error of another kind (bad deck, unknown model...).
_ERROR = re.compile(r"(^|\s)(error|fatal)\b|aborted|can't find|unknown|not found|syntax", re.IGNORECASE)


def relevant_lines(log: str, pattern: re.Pattern[str], limit: int = 12) -> list[str]:
    """The distinct lines of ``log`` matching ``pattern`` (first ``limit``), stripped."""
    out: list[str] = []
    for line in log.splitlines():
        text = line.strip()
        if text and pattern.search(text) and text not in out:
            out.append(text)
            if len(out) >= limit:
                break
    return out


def failure_error(log: str, what: str) -> SimulationError:
    """The exception describing a failed run: ConvergenceError when the log says so.

    ``what`` names the run (e.g. ``"ngspice exited with status 1"``); the message quotes the
    relevant log lines so the user sees ngspice's own words.
    """
    conv = relevant_lines(log, _CONVERGENCE)
    if conv:
        return ConvergenceError(f"{what}: no convergence: " + " | ".join(conv))
    errs = relevant_lines(log, _ERROR)
    if not errs:
        tail = [ln.strip() for ln in log.splitlines() if ln.strip()][-5:]
        errs = tail
    return SimulationError(f"{what}: " + (" | ".join(errs) if errs else "no output"))
