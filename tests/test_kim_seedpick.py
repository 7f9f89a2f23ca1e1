"""The Kim 2024 seed rules: checks made on the model-calibrated circuit before any simulation.

Oracles: the rule's definition applied by hand to synthetic checks, the level search of every
earlier seed, and the closed-form models run here independently of the pick.
"""

from __future__ import annotations

import pytest

from xbarsim.errors import InputError
from xbarsim.experiments import kim2024 as k
from xbarsim.experiments.kim2024.seedpick import MAX_MODEL_GAP


def _check(calc: float = 1.0, model: float = 1.0, gap: float = 0.1) -> k.DesignCheck:
    return k.DesignCheck(1.0, calc, model, gap)


def test_rules_are_the_documented_conjunctions() -> None:
    good, bad_calc, bad_model, bad_gap = _check(), _check(calc=0.9), _check(model=0.9), _check(gap=0.31)
    assert all(k.passes([c], "levels") for c in (good, bad_calc, bad_model, bad_gap))
    assert [k.passes([c], "calc") for c in (good, bad_calc, bad_model, bad_gap)] == [True, False, True, True]
    assert [k.passes([c], "model") for c in (good, bad_calc, bad_model, bad_gap)] == [
        True,
        True,
        False,
        False,
    ]
    assert [k.passes([c], "calc+model") for c in (good, bad_calc, bad_model, bad_gap)] == [
        True,
        False,
        False,
        False,
    ]
    assert k.passes([good, bad_gap], "model", max_gap=0.5) and not k.passes([good, bad_gap], "model")
    assert MAX_MODEL_GAP == 0.30
    with pytest.raises(InputError, match="seed rule"):
        k.passes([good], "best")


def test_model_rule_skips_seed_27_and_picks_32() -> None:
    """Seed 27 reaches q = 4 but its circuit recognizes 8 digits on the models; seed 32 passes."""
    _, q27 = k.train_and_quantize(5, 27)
    checks27 = k.check_design(q27, k.paper_design())
    assert q27.bins <= 4 and min(c.model_recognition for c in checks27) < 1.0
    assert not k.passes(checks27, "model")
    assert k.pick_design_seed(5, first=27, count=10) == (32, 4)
    assert k.pick_design_seed(5, first=27, count=10) == (32, 4)  # deterministic
    assert k.pick_design_seed(5, first=27, count=10, rule="levels") == (27, 4)
    _, q32 = k.train_and_quantize(5, 32)
    checks32 = k.check_design(q32, k.paper_design())
    assert [c.v_in for c in checks32] == [1.0, 5.0, 10.0]
    assert all(c.model_recognition == 1.0 and c.model_max_gap <= 0.3 for c in checks32)
    assert checks32[0].calc_recognition < 1.0 and not k.passes(
        checks32, "calc"
    )  # why calc is not the default


def test_pick_reports_the_rule_when_no_seed_passes() -> None:
    with pytest.raises(InputError, match="calc rule"):
        k.pick_design_seed(5, first=27, count=6, rule="calc")
    with pytest.raises(InputError, match="seed rule"):
        k.pick_design_seed(5, rule="nope")
    with pytest.raises(InputError):
        k.pick_design_seed(5, voltages=())


def test_cli_offers_the_library_rules() -> None:
    from xbarsim.cli.kim import DEFAULT_SEED_RULE, SEED_RULES

    assert SEED_RULES == k.SEED_RULES and DEFAULT_SEED_RULE == k.DEFAULT_RULE == "model"
