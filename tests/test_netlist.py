"""Netlist writer and model cards: golden decks, determinism, injection safety, topology check."""

from __future__ import annotations

from pathlib import Path

import pytest

from xbarsim.spice.models import MODELS_DIR, library_text

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("kind,file", [("diode", "xbarsim_diode.lib"), ("nmos", "xbarsim_nmos.lib")])
def test_default_model_files_equal_generated_cards(kind: str, file: str) -> None:
    assert MODELS_DIR == ROOT / "models"
    assert (ROOT / "models" / file).read_text() == library_text(kind)
