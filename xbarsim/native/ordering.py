"""Fill-reducing orderings cached by sparsity pattern, so a re-drawn array skips its symbolic work.

A Monte-Carlo trial (same crossbar, new conductances) stamps matrices with exactly the same
pattern as the previous trial. The minimum-degree ordering depends only on that pattern, so it
is kept here keyed by a hash of the CSC index arrays (not by circuit object): the next circuit
with that pattern factors with the stored order (SuperLU ``NATURAL`` on the permuted matrix).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

#: Patterns whose orderings are kept (a 512x512 array's order is 4 MB).
CACHE_SIZE = 16

_orders: OrderedDict[bytes, np.ndarray] = OrderedDict()


def pattern_key(A: sp.csc_matrix, tag: str) -> bytes:
    """Digest of the shape and the CSC index arrays of A (values ignored), plus a tag."""
    h = hashlib.blake2b(digest_size=20)
    h.update(tag.encode())
    h.update(np.asarray(A.shape, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(A.indptr, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(A.indices, dtype=np.int64).tobytes())
    return h.digest()


def lookup(key: bytes) -> np.ndarray | None:
    """The stored ``perm_c`` (new position of each old column) for this pattern, if any."""
    order = _orders.get(key)
    if order is not None:
        _orders.move_to_end(key)
    return order


def store(key: bytes, perm_c: np.ndarray) -> None:
    _orders[key] = np.asarray(perm_c, dtype=np.int64).copy()
    _orders.move_to_end(key)
    while len(_orders) > CACHE_SIZE:
        _orders.popitem(last=False)


def cached_perm_c(A: sp.csc_matrix, tag: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``perm_c`` of A's pattern: from the cache, else ``compute()`` (stored for the next time)."""
    key = pattern_key(A, tag)
    order = lookup(key)
    if order is None:
        order = np.asarray(compute(), dtype=np.int64)
        store(key, order)
    return order


def clear() -> None:
    """Forget every stored ordering (tests and benchmarks measure the cold path with this)."""
    _orders.clear()
