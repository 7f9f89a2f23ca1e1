"""Raw-file parser on committed ngspice output (see tests/data/rawfile/README.md for how it was made)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xbarsim.errors import SimulationError
from xbarsim.spice.rawfile import parse_raw, parse_raw_plots

DATA = Path(__file__).parent / "data" / "rawfile"
SWEEP = np.array([0.0, 0.5, 1.0, 1.5, 2.0])


def test_binary_file_with_two_plots() -> None:
    plots = parse_raw_plots((DATA / "divider_op_dc.raw").read_bytes())
    assert [p.plotname for p in plots] == ["DC transfer characteristic", "Operating Point"]
    dc, op = plots
    assert dc.names == ("v(v-sweep)", "v(mid)", "v(in)", "i(v1)")
    assert dc.types == ("voltage", "voltage", "voltage", "current")
    assert dc.n_points == 5 and dc.flags == "real"
    # Divider oracle: exact in binary (every value is a short binary fraction).
    np.testing.assert_array_equal(dc["v(v-sweep)"], SWEEP)
    np.testing.assert_allclose(dc["V(MID)"], 0.75 * SWEEP, rtol=1e-15, atol=0)
    np.testing.assert_allclose(dc["i(v1)"], -SWEEP / 4000.0, rtol=1e-15, atol=0)
    assert op.n_points == 1
    assert op["v(mid)"][0] == pytest.approx(1.5, rel=1e-15)
    assert "i(v1)" in op and "v(nothing)" not in op
    assert parse_raw((DATA / "divider_op_dc.raw").read_bytes()).plotname == "DC transfer characteristic"


def test_ascii_file() -> None:
    raw = parse_raw((DATA / "divider_dc_ascii.raw").read_bytes())
    assert raw.names == ("v(v-sweep)", "v(mid)", "i(v1)")
    np.testing.assert_allclose(raw["v(mid)"], 0.75 * SWEEP, rtol=1e-15, atol=0)
    np.testing.assert_allclose(raw["i(v1)"], -SWEEP / 4000.0, rtol=1e-15, atol=0)


def test_unknown_vector_lists_what_exists() -> None:
    raw = parse_raw((DATA / "divider_dc_ascii.raw").read_bytes())
    with pytest.raises(KeyError, match="v\\(mid\\)"):
        raw["v(out)"]


def test_binary_data_is_read_only_copy_free_of_the_input() -> None:
    data = bytearray((DATA / "divider_op_dc.raw").read_bytes())
    raw = parse_raw(bytes(data))
    assert raw.data.dtype == np.float64 and raw.data.shape == (5, 4)


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda b: b[:-9], "truncated"),
        (lambda b: b.replace(b"No. Points: 5", b"No. Points: x"), "not an integer"),
        (lambda b: b.split(b"Binary:")[0], "header ends"),
        (lambda b: b"", "no plot"),
        (lambda b: b.replace(b"No. Variables: 4", b"No. Variables: 5"), "variables"),
    ],
)
def test_damaged_files_raise_simulation_error(mutate, match) -> None:
    data = (DATA / "divider_op_dc.raw").read_bytes()
    with pytest.raises(SimulationError, match=match):
        parse_raw_plots(mutate(data))


def test_damaged_ascii_raises() -> None:
    data = (DATA / "divider_dc_ascii.raw").read_bytes()
    with pytest.raises(SimulationError, match="ascii"):
        parse_raw(data[: len(data) // 2])
    with pytest.raises(SimulationError, match="not a number"):
        parse_raw(data.replace(b"3.750000000000000e-01", b"3.75e-01xyz"))
