"""Level distributions: loading, inverse-transform sampling against the source data, faults, overlap."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import requires_plot
from scipy import stats

from xbarsim.errors import InputError
from xbarsim.variability import (
    LevelDistribution,
    apply_read_noise,
    available_presets,
    load_levels,
    nearest_levels,
    preset_distribution,
    sample_around,
    sample_conductances,
)

PRESETS = ["hfo2-1t1r-2", "hfo2-1t1r-3", "hfo2-1t1r-4", "hfo2-1t1r-5", "hfo2-1t1r-8"]


def test_presets_shipped_and_marked_illustrative() -> None:
    assert available_presets() == PRESETS
    for name in PRESETS:
        d = preset_distribution(name)
        assert d.illustrative
        assert d.v_read == 0.2
        assert d.n_levels == int(name.rsplit("-", 1)[1])
        assert all(n == 128 for n in d.n_devices)
        # medians near the nominal 5..40 uA grid shared with xbarsim.devices (within 1.5 uA)
        nominal = np.linspace(5e-6, 40e-6, d.n_levels)
        np.testing.assert_allclose(d.median_conductances * d.v_read, nominal, atol=1.5e-6)


@pytest.mark.parametrize("name", PRESETS)
def test_sampling_reproduces_each_level_cdf(name: str) -> None:
    """KS two-sample test of 20000 draws per level against the 128 source currents.

    The sampled law is the linearly interpolated ECDF, so the KS distance to the source ECDF
    is at most 1/127 (interpolation) plus sampling noise (~0.01 at 20000 draws): D < 0.03.
    """
    d = preset_distribution(name)
    rng = np.random.default_rng(7)
    for k in range(d.n_levels):
        G = sample_conductances(d, np.full(20000, k), rng)
        res = stats.ks_2samp(G * d.v_read, d.samples(k))
        assert res.statistic < 0.03, (name, k, res)
        assert res.pvalue > 0.01, (name, k, res)
        # and never outside the measured range
        assert G.min() * d.v_read >= d.samples(k)[0] - 1e-15
        assert G.max() * d.v_read <= d.samples(k)[-1] + 1e-15


def test_quantile_form_against_known_law(tmp_path) -> None:
    """Quantile CSV of N(20 uA, 1 uA) at 201 knots: draws follow that normal (kstest D < 0.02)."""
    q = np.linspace(0.0005, 0.9995, 201)
    lines = ["# made-up quantile table", "level,v_read,quantile,i_read"]
    for k, mu in enumerate((10e-6, 20e-6)):
        lines += [f"{k},0.1,{qq:.6f},{stats.norm.ppf(qq, mu, 1e-6):.6e}" for qq in q]
    path = tmp_path / "q.csv"
    path.write_text("\n".join(lines) + "\n")
    d = load_levels(path)
    assert d.n_levels == 2 and d.v_read == 0.1 and not d.illustrative
    G = sample_conductances(d, np.ones(20000, dtype=int), np.random.default_rng(3))
    res = stats.kstest(G * 0.1, stats.norm(20e-6, 1e-6).cdf)
    assert res.statistic < 0.02, res
    np.testing.assert_allclose(d.median_conductances, [1e-4, 2e-4], rtol=1e-3)
    assert d.overlap()[0].gap_a > 0


def test_same_rng_same_devices_and_shape() -> None:
    d = preset_distribution("hfo2-1t1r-4")
    idx = np.random.default_rng(0).integers(0, 4, size=(9, 7))
    a = sample_conductances(d, idx, np.random.default_rng(42))
    b = sample_conductances(d, idx, np.random.default_rng(42))
    c = sample_conductances(d, idx, np.random.default_rng(43))
    assert a.shape == (9, 7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.all(a > 0)
    # every draw is nearest to its own level's median except in overlapping tails
    assert np.mean(nearest_levels(d, a) == idx) > 0.95


def test_stuck_at_faults_rates_and_values() -> None:
    d = preset_distribution("hfo2-1t1r-8")
    n = 40000
    G = sample_conductances(
        d, np.full(n, 3), np.random.default_rng(5), stuck_hrs_rate=0.1, stuck_lrs_rate=0.05
    )
    hrs = np.mean(G == d.g_hrs)
    lrs = np.mean(G == d.g_lrs)
    # binomial: 4 standard deviations
    assert abs(hrs - 0.1) < 4 * np.sqrt(0.1 * 0.9 / n)
    assert abs(lrs - 0.05) < 4 * np.sqrt(0.05 * 0.95 / n)
    G2 = sample_conductances(d, np.full(100, 0), np.random.default_rng(5), stuck_lrs_rate=1.0, g_lrs=1e-3)
    np.testing.assert_array_equal(G2, 1e-3)
    with pytest.raises(InputError, match="must not exceed 1"):
        sample_conductances(
            d, np.zeros(3, int), np.random.default_rng(0), stuck_hrs_rate=0.6, stuck_lrs_rate=0.6
        )


def test_read_noise_relative_sigma() -> None:
    G = np.full(50000, 1e-4)
    R = apply_read_noise(G, np.random.default_rng(1), 0.05)
    assert abs(np.std(R / G - 1) - 0.05) < 0.002  # 50000 draws: std error ~0.00016
    assert np.all(R > 0)
    np.testing.assert_array_equal(apply_read_noise(G, np.random.default_rng(1), 0.0), G)


def test_overlap_report() -> None:
    eight = preset_distribution("hfo2-1t1r-8").overlap()
    assert len(eight) == 7
    assert all(o.gap_a > 0 and o.read_error == 0.0 for o in eight)  # IGVVA: separated
    five = preset_distribution("hfo2-1t1r-5").overlap()
    assert any(o.gap_a < 0 for o in five)  # M-ISPVA at 5 levels: slight overlap
    assert all(0.0 <= o.read_error < 0.05 for o in five)
    assert "overlap" in preset_distribution("hfo2-1t1r-5").describe()


def test_to_level_table_matches_medians() -> None:
    d = preset_distribution("hfo2-1t1r-8")
    t = d.to_level_table()
    assert t.n_levels == 8 and t.illustrative
    np.testing.assert_allclose(t.g_array, d.median_conductances)


@pytest.mark.parametrize(
    "text, message",
    [
        ("lvl,v,i\n0,0.2,1e-6\n", "header must be"),
        ("level,v_read,i_read\n0,0.2,abc\n", "not numeric"),
        ("level,v_read,i_read\n0,0.2,1e-6\n2,0.2,2e-6\n", "without gaps"),
        ("level,v_read,i_read\n0,0.2,1e-6\n1,0.3,2e-6\n", "one read voltage"),
        ("level,v_read,i_read\n0,0.2,3e-6\n1,0.2,2e-6\n", "medians must rise"),
        ("level,v_read,i_read\n0,0.2,-1e-6\n1,0.2,2e-6\n", "must be > 0"),
        ("level,v_read,quantile,i_read\n0,0.2,0.5,1e-6\n0,0.2,0.5,2e-6\n1,0.2,0.5,3e-6\n", "rise strictly"),
    ],
)
def test_bad_files_one_clear_error(tmp_path, text: str, message: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=message) as exc:
        load_levels(p)
    assert "\n" not in str(exc.value)


def test_bad_inputs() -> None:
    d = preset_distribution("hfo2-1t1r-2")
    with pytest.raises(InputError, match="0..1"):
        sample_conductances(d, np.array([0, 2]), np.random.default_rng(0))
    with pytest.raises(InputError, match="unknown level distribution"):
        preset_distribution("nope")
    with pytest.raises(InputError, match="at least 2 levels"):
        LevelDistribution.from_samples("x", 0.2, [np.array([1e-6])])


def test_sample_around_relative_and_snap() -> None:
    d = preset_distribution("hfo2-1t1r-8")
    med = d.median_conductances
    # targets a bit off the device levels, as an affine weight map produces
    G_nom = np.repeat(med * 1.03, 5000).reshape(8, 5000)
    rel = sample_around(d, G_nom, np.random.default_rng(2), mode="relative")
    snap = sample_around(d, G_nom, np.random.default_rng(2), mode="snap")
    # same uniforms: snap is the level's own draw, relative the same draw rescaled to the target
    np.testing.assert_allclose(rel, snap * 1.03, rtol=1e-12)
    for k in range(8):  # KS of the snapped draws against the level's source currents (D < 0.03)
        assert stats.ks_2samp(snap[k] * d.v_read, d.samples(k)).statistic < 0.03
    np.testing.assert_allclose(np.median(rel, axis=1), med * 1.03, rtol=0.01)
    with pytest.raises(InputError, match="relative' or 'snap"):
        sample_around(d, G_nom, np.random.default_rng(0), mode="other")


@requires_plot
def test_levels_example_smoke(tmp_path, capsys) -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "montecarlo_levels.py"
    spec = importlib.util.spec_from_file_location("montecarlo_levels", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "l.png"
    assert mod.main(["--preset", "hfo2-1t1r-5", "--draws", "200", "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert "levels 0-1" in capsys.readouterr().out


def test_latin1_and_empty_level_csv_are_one_clear_error(tmp_path) -> None:
    lat = tmp_path / "lat.csv"
    lat.write_bytes("# mesures \xe9t\xe9\nlevel,v_read,i_read\n0,0.2,1e-6\n1,0.2,2e-6\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"is not UTF-8 text \(byte 0xe9 at offset 10\)"):
        load_levels(lat)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="no data"):
        load_levels(empty)
    with pytest.raises(InputError, match="does not exist"):
        load_levels(tmp_path / "missing.csv")


def test_preset_csvs_are_centred_on_the_device_level_tables() -> None:
    """One source of numbers: the CSV medians are devices.PRESETS (within the 10 nA file resolution)."""
    from xbarsim.devices import PRESETS

    assert sorted(PRESETS) == available_presets()
    for name, table in PRESETS.items():
        d = preset_distribution(name)
        assert d.v_read == table.v_read and d.n_levels == table.n_levels
        np.testing.assert_allclose(d.median_conductances, table.g_array, rtol=0, atol=5e-9 / d.v_read)


def test_preset_generator_reproduces_the_shipped_files_and_has_no_machine_paths(tmp_path) -> None:
    import re
    from importlib import resources

    from xbarsim.data.levels import make_presets

    make_presets.main(tmp_path)
    shipped = resources.files("xbarsim.data.levels")
    for name in available_presets():
        assert (tmp_path / f"{name}.csv").read_bytes() == shipped.joinpath(f"{name}.csv").read_bytes(), name
    source = shipped.joinpath("make_presets.py").read_text()
    assert not re.search(r"(/work/|/home/|/root|/Users/|/tmp/|[A-Z]:\\)", source)
