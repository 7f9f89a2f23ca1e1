"""Digit glyphs: the paper's "2", shapes, binarity, distinctness."""

from __future__ import annotations

import numpy as np
import pytest

from xbarsim.datasets.glyphs import glyph_matrix, glyph_rows, glyphs, one_hot, render
from xbarsim.errors import InputError


def test_paper_two_on_5x5() -> None:
    assert glyph_rows(5, 2) == ("11111", "00001", "11111", "10000", "11111")
    np.testing.assert_array_equal(
        glyphs(5)[2], [1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    )


@pytest.mark.parametrize("grid", [5, 7])
def test_shapes_binary_distinct(grid: int) -> None:
    X = glyphs(grid)
    assert X.shape == (10, grid * grid)
    assert set(np.unique(X)) == {0.0, 1.0}
    dist = (X[:, None, :] != X[None, :, :]).sum(axis=2)
    np.fill_diagonal(dist, 99)
    assert dist.min() >= (1 if grid == 5 else 3)
    for d in range(10):
        assert glyph_matrix(grid, d).shape == (grid, grid)
        assert len(render(grid, d).splitlines()) == grid


def test_one_hot() -> None:
    np.testing.assert_array_equal(one_hot(), np.eye(10))


@pytest.mark.parametrize("grid", [4, 6, True, "5"])
def test_bad_grid(grid: object) -> None:
    with pytest.raises(InputError):
        glyphs(grid)  # type: ignore[arg-type]


def test_bad_digit() -> None:
    with pytest.raises(InputError):
        glyph_rows(5, 10)
