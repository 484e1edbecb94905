"""Additive statistics as pytrees, and data that arrive in chunks.

A chunk's expected sufficient statistics are a small *pytree* (an array, or a tuple, list or
dict of arrays) that adds over chunks: :func:`tree_sum` adds them (pairwise, for accuracy);
:class:`SeededBlocks` regenerates block ``b`` of a large simulated data set from its own seed,
so :math:`10^8` points are never in memory and numpy and Dask see the same numbers.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

__all__ = ['SeededBlocks', 'tree_map', 'tree_sum']


# ---- additive pytrees -------------------------------------------------------------------


def tree_map(fn: Callable[..., Any], *trees: Any) -> Any:
    """Apply ``fn`` leafwise to pytrees of the same structure (tuple, namedtuple, list,
    dict; anything else is a leaf)."""
    first = trees[0]
    if isinstance(first, dict):
        if any(not isinstance(t, dict) or t.keys() != first.keys() for t in trees[1:]):
            raise ValueError("sufficient statistics differ in structure between chunks (dict keys)")
        return {k: tree_map(fn, *(t[k] for t in trees)) for k in first}
    if isinstance(first, (tuple, list)):
        if any(not isinstance(t, (tuple, list)) or len(t) != len(first) for t in trees[1:]):
            raise ValueError("sufficient statistics differ in structure between chunks (lengths)")
        values = [tree_map(fn, *leaves) for leaves in zip(*trees, strict=True)]
        return type(first)(*values) if hasattr(first, "_fields") else type(first)(values)
    return fn(*trees)


def _own(leaf: Any) -> Any:
    """A float copy of a numeric leaf (so that summing never writes into a chunk's
    result); other leaves (objects with ``+``, such as :class:`em_helpers.gmm.SuffStats`)
    as they are."""
    if isinstance(leaf, (numbers.Number, np.ndarray, np.generic)):
        return np.array(leaf, dtype=float)
    return leaf


def _add(a: Any, b: Any) -> Any:
    return a + b


def tree_sum(parts: Iterable[Any]) -> Any:
    """Leafwise sum :math:`\\sum_c S_c` of an iterable of pytrees (at least one); a leaf is
    a number, an array, or any object that adds with ``+``."""
    total = None
    for part in parts:
        if part is None:
            raise TypeError("suff_stats returned None for a chunk (a missing `return`?)")
        if total is None:
            total = tree_map(_own, part)
        else:
            total = tree_map(_add, total, part)
    if total is None:
        raise ValueError("chunks is empty: there are no data to sum over")
    return total


def _pairwise_sum(parts: Sequence[Any]) -> Any:
    return tree_sum(parts)


# ---- chunks in memory, or regenerated from a seed ---------------------------------------


class SeededBlocks:
    """``n`` observations drawn in blocks of ``chunk`` rows, block ``b`` from its own seed.

    Block ``b`` holds rows ``b*chunk`` to ``min((b+1)*chunk, n)`` and is
    ``draw(np.random.default_rng([seed, b]), size)``: the same numbers whoever draws it
    (this process, a Dask worker, in any order), and never all in memory at once. Iterating
    yields the blocks as numpy arrays; :meth:`to_dask` gives the same data as a lazy
    ``dask.array`` (one task per block). Changing ``chunk`` changes the draw.

    Parameters
    ----------
    draw : callable
        ``draw(rng, size) -> ndarray`` of shape ``(size,)`` or ``(size, p)``.
    n : int
        Number of observations, at least 1.
    chunk : int
        Rows per block, at least 1 (the last block may be shorter).
    seed : int
        Non-negative base seed.
    """

    def __init__(self, draw: Callable[[np.random.Generator, int], np.ndarray], n: int,
                 chunk: int, seed: int = 0):
        if not callable(draw):
            raise TypeError(f"draw must be a callable draw(rng, size) -> array, got {draw!r}")
        for name, value, low in (("n", n, 1), ("chunk", chunk, 1), ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{name} must be an integer, got {value!r}")
            if value < low:
                raise ValueError(f"{name} must be >= {low}, got {value!r}")
        self.draw, self.n, self.chunk, self.seed = draw, int(n), int(chunk), int(seed)
        first = np.asarray(draw(np.random.default_rng([self.seed, 0]), 1))
        if first.ndim not in (1, 2) or first.shape[0] != 1:
            raise ValueError(
                f"draw(rng, 1) must return shape (1,) or (1, p), got {first.shape}"
            )
        self.tail, self.dtype = first.shape[1:], first.dtype

    @property
    def sizes(self) -> tuple[int, ...]:
        """Rows of each block."""
        full, rest = divmod(self.n, self.chunk)
        return (self.chunk,) * full + ((rest,) if rest else ())

    def __len__(self) -> int:
        return len(self.sizes)

    def block(self, b: int) -> np.ndarray:
        """Block ``b`` as a numpy array (drawn now)."""
        size = self.sizes[b]
        out = np.asarray(self.draw(np.random.default_rng([self.seed, b]), size))
        if out.shape != (size, *self.tail):
            raise ValueError(f"draw(rng, {size}) returned shape {out.shape}, "
                             f"expected {(size, *self.tail)}")
        return out

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.block(b) for b in range(len(self)))

    def to_dask(self) -> Any:
        """The same observations as a lazy ``dask.array`` chunked by rows."""
        import dask.array as da

        def one(block_id: tuple[int, ...] = (0,)) -> np.ndarray:
            return self.block(block_id[0])

        chunks = (self.sizes, *((s,) for s in self.tail))
        return da.map_blocks(one, chunks=chunks, dtype=self.dtype,
                             meta=np.empty((0, *self.tail), self.dtype))


def _chunk_source(chunks: Any) -> Callable[[], Iterable[np.ndarray]]:
    """A function returning a fresh iterable over the chunks on each call (one pass)."""
    if callable(chunks):
        return chunks
    if isinstance(chunks, np.ndarray):
        raise TypeError("chunks is one array: pass a list of chunks, e.g. np.array_split(x, k)")
    if isinstance(chunks, Iterator):
        raise TypeError(
            "chunks is an iterator, which one EM pass would exhaust: pass a sequence, a "
            "SeededBlocks, or a function returning a fresh iterator"
        )
    if not isinstance(chunks, Iterable):
        raise TypeError(f"chunks must be a sequence of arrays, got {type(chunks).__name__}")
    return lambda: chunks
