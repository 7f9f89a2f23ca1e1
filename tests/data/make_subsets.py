"""Regenerate the small IDX subsets in this folder from the full datasets.

Usage (from the repository root)::

    PYTHONPATH=. .venv/bin/python tests/data/make_subsets.py /work/shared/data

Takes the FIRST 500 training and FIRST 200 test examples of MNIST and Fashion-MNIST (no shuffling,
so the subsets are reproducible) and writes them gzip-compressed (mtime 0, byte-identical reruns).
"""

from __future__ import annotations

import sys
from pathlib import Path

from xbarsim.datasets.idx import DATASETS, load, write_idx

N = {"train": 500, "test": 200}
PREFIX = {"train": "train", "test": "t10k"}


def main(src: str) -> None:
    here = Path(__file__).resolve().parent
    for name in DATASETS:
        out = here / name
        out.mkdir(exist_ok=True)
        for split, n in N.items():
            x, y = load(name, split, data_dir=src, limit=n)
            write_idx(out / f"{PREFIX[split]}-images-idx3-ubyte.gz", x)
            write_idx(out / f"{PREFIX[split]}-labels-idx1-ubyte.gz", y)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data")
