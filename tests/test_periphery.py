"""Periphery specs: DAC/offset drivers, buffers and ADCs against hand-worked values."""

from __future__ import annotations

import numpy as np
import pytest

from xbarsim.errors import InputError
from xbarsim.periphery import ADC, Buffer, Driver, quantize_uniform


def test_quantize_uniform_levels_and_clipping():
    # 2 bits over [0, 3]: levels 0, 1, 2, 3; halfway values round to even (numpy rint).
    x = np.array([-1.0, 0.2, 0.6, 1.49, 2.51, 3.0, 7.0])
    assert quantize_uniform(x, 0.0, 3.0, 2).tolist() == [0.0, 0.0, 1.0, 1.0, 3.0, 3.0, 3.0]
    # per-column ranges broadcast
    y = quantize_uniform(np.array([[0.4, 0.4]]), np.array([0.0, 0.0]), np.array([1.0, 2.0]), 1)
    assert y.tolist() == [[0.0, 0.0]]


def test_driver_offset_all_and_active():
    V = np.array([[0.0, 1.0, 5.0]])
    assert Driver(offset=0.65).apply(V).tolist() == [[0.65, 1.65, 5.65]]
    assert Driver(offset=0.65, offset_inputs="active").apply(V).tolist() == [[0.0, 1.65, 5.65]]
    assert Driver().is_identity and not Driver(offset=0.1).is_identity


def test_driver_dac_then_offset():
    d = Driver(offset=0.5, bits=2, v_min=0.0, v_max=0.3)  # levels 0, 0.1, 0.2, 0.3
    out = d.apply(np.array([[0.04, 0.16, 0.9]]))
    np.testing.assert_allclose(out, [[0.5, 0.7, 0.8]], rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"offset": float("nan")},
        {"offset_inputs": "some"},
        {"bits": 0, "v_min": 0.0, "v_max": 1.0},
        {"bits": 3},
        {"bits": 3, "v_min": 1.0, "v_max": 1.0},
        {"v_min": 0.0, "v_max": 1.0},
        {"bits": True, "v_min": 0.0, "v_max": 1.0},
    ],
)
def test_driver_rejects_bad_parameters(kwargs):
    with pytest.raises(InputError):
        Driver(**kwargs)


def test_buffer_gain_offset_clamp():
    b = Buffer(gain=2.0, offset=0.1, clamp=(0.0, 1.0))
    np.testing.assert_allclose(b.apply(np.array([-1.0, 0.2, 3.0])), [0.0, 0.5, 1.0])
    for bad in ({"gain": -1.0}, {"gain": 0.0}, {"offset": float("inf")}, {"clamp": (1.0, 0.0)}, {"clamp": 3}):
        with pytest.raises(InputError):
            Buffer(**bad)


def test_adc_signed_codes_and_clipping():
    adc = ADC(bits=2, full_scale=1.5)  # levels -1.5, -0.5, 0.5, 1.5
    out = adc.convert(np.array([[-9.0, -0.9, 0.1, 0.99, 2.0]]))
    assert out.tolist() == [[-1.5, -0.5, 0.5, 0.5, 1.5]]
    assert adc.lsb == pytest.approx(1.0)


def test_adc_unsigned_per_column():
    adc = ADC(bits=3, full_scale=np.array([7.0, 14.0]), signed=False)
    out = adc.convert(np.array([[3.4, 3.4], [-1.0, 20.0]]))
    assert out.tolist() == [[3.0, 4.0], [0.0, 14.0]]
    with pytest.raises(InputError, match="per-column"):
        adc.convert(np.zeros((1, 3)))


def test_adc_error_shrinks_with_bits():
    y = np.random.default_rng(0).uniform(-1, 1, (200, 4))
    errs = [np.max(np.abs(ADC(bits=b, full_scale=1.0).convert(y) - y)) for b in range(2, 11)]
    assert all(e <= ADC(bits=b, full_scale=1.0).lsb / 2 + 1e-15 for e, b in zip(errs, range(2, 11)))
    assert errs[-1] < errs[0] / 100


def test_adc_calibration_per_column_and_global():
    y = np.array([[1.0, -4.0, 0.0], [-2.0, 3.0, 0.0]])
    per = ADC(bits=4).calibrated(y)
    assert per.full_scale.tolist() == [2.0, 4.0, 4.0]  # an all-zero column takes the largest scale
    assert ADC(bits=4).calibrated(y, per_column=False).full_scale == 4.0
    assert np.all(np.abs(per.convert(y)) <= np.array([2.0, 4.0, 4.0]))
    with pytest.raises(InputError, match="all zero"):
        ADC(bits=4).calibrated(np.zeros((3, 2)))
    with pytest.raises(InputError, match="no full scale"):
        ADC(bits=4).convert(y)


@pytest.mark.parametrize(
    "bad",
    [
        {"bits": 0},
        {"bits": 25},
        {"bits": 2.0},
        {"bits": 4, "full_scale": -1.0},
        {"bits": 4, "full_scale": float("nan")},
        {"bits": 4, "full_scale": [1.0, 0.0]},
        {"bits": 4, "signed": "yes"},
    ],
)
def test_adc_rejects_bad_parameters(bad):
    with pytest.raises(InputError):
        ADC(**bad)
