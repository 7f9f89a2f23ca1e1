"""Binary digit glyphs 0-9 on a 5x5 and a 7x7 grid (Kim et al., Micromachines 2024).

The paper gives "2" on 5x5 as 11111 / 00001 / 11111 / 10000 / 11111; the other 5x5 digits follow
the same seven-segment-like style. The 7x7 set is drawn with rounded strokes so that every digit
is legible at a glance; any two 7x7 digits differ in at least 3 pixels (5x5: at least 1, e.g. 6/8).
Row-major flattening turns a glyph into the 25 or 49 network inputs (pixel 1 = lit).
"""

from __future__ import annotations

import numpy as np

from .._validate import check_int

__all__ = ["GRIDS", "glyph_matrix", "glyph_rows", "glyphs", "one_hot", "render"]

GRIDS: tuple[int, ...] = (5, 7)

_GLYPHS_5 = (
    ("11111", "10001", "10001", "10001", "11111"),  # 0
    ("00100", "01100", "00100", "00100", "01110"),  # 1
    ("11111", "00001", "11111", "10000", "11111"),  # 2 (as printed in the paper)
    ("11111", "00001", "01111", "00001", "11111"),  # 3
    ("10001", "10001", "11111", "00001", "00001"),  # 4
    ("11111", "10000", "11111", "00001", "11111"),  # 5
    ("11111", "10000", "11111", "10001", "11111"),  # 6
    ("11111", "00001", "00010", "00100", "00100"),  # 7
    ("11111", "10001", "11111", "10001", "11111"),  # 8
    ("11111", "10001", "11111", "00001", "11111"),  # 9
)

_GLYPHS_7 = (
    ("0111110", "1000001", "1000001", "1000001", "1000001", "1000001", "0111110"),  # 0
    ("0001000", "0011000", "0101000", "0001000", "0001000", "0001000", "0111110"),  # 1
    ("0111110", "1000001", "0000001", "0011110", "0100000", "1000000", "1111111"),  # 2
    ("0111110", "1000001", "0000001", "0011110", "0000001", "1000001", "0111110"),  # 3
    ("0000110", "0001010", "0010010", "0100010", "1111111", "0000010", "0000010"),  # 4
    ("1111111", "1000000", "1111110", "0000001", "0000001", "1000001", "0111110"),  # 5
    ("0111110", "1000000", "1000000", "1111110", "1000001", "1000001", "0111110"),  # 6
    ("1111111", "0000001", "0000010", "0000100", "0001000", "0001000", "0001000"),  # 7
    ("0111110", "1000001", "1000001", "0111110", "1000001", "1000001", "0111110"),  # 8
    ("0111110", "1000001", "1000001", "0111111", "0000001", "0000001", "0111110"),  # 9
)

_TABLES = {5: _GLYPHS_5, 7: _GLYPHS_7}


def _check_grid(grid: object) -> int:
    return check_int(grid, "grid", choices=GRIDS)


def glyph_rows(grid: int, digit: int) -> tuple[str, ...]:
    """The glyph of ``digit`` as ``grid`` strings of '0'/'1', top row first."""
    table = _TABLES[_check_grid(grid)]
    return table[check_int(digit, "digit", minimum=0, maximum=9)]


def glyph_matrix(grid: int, digit: int) -> np.ndarray:
    """(grid, grid) array of 0.0/1.0 for one digit."""
    return np.array([[float(c) for c in row] for row in glyph_rows(grid, digit)])


def glyphs(grid: int) -> np.ndarray:
    """(10, grid*grid) float array: row d is digit d flattened row-major (1.0 = lit pixel)."""
    g = _check_grid(grid)
    return np.stack([glyph_matrix(g, d).ravel() for d in range(10)])


def one_hot(n: int = 10) -> np.ndarray:
    """(n, n) one-hot targets: row d is the target of digit d."""
    return np.eye(n)


def render(grid: int, digit: int, on: str = "#", off: str = ".") -> str:
    """Text picture of a glyph (for reports and docs)."""
    return "\n".join(row.replace("1", on).replace("0", off) for row in glyph_rows(grid, digit))
