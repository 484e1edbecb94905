"""Additive statistics as pytrees, and data that arrive in chunks.

A chunk's expected sufficient statistics are a small *pytree* (an array, or a tuple, list or
dict of arrays, or an object that adds with ``+``) that adds over chunks: :func:`tree_sum`
adds them; :func:`stats_loglik` reads the log-likelihood they may carry; :class:`SeededBlocks`
regenerates block ``b`` of a large simulated data set from its own seed, so :math:`10^8`
points are never in memory and numpy and Dask see the same numbers.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ..core.loop import EMResult, run_em

__all__ = ['SeededBlocks', 'StreamingEMResult', 'stats_loglik', 'tree_map', 'tree_sum']


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


def _copy_leaf(leaf: Any) -> Any:
    if isinstance(leaf, (numbers.Number, np.ndarray, np.generic)):
        return np.array(leaf, dtype=float)
    return copy.deepcopy(leaf)


def tree_copy(tree: Any) -> Any:
    """A deep copy of a pytree of statistics (so an ``m_step`` that changes its argument in
    place cannot change the caller's statistics)."""
    return tree_map(_copy_leaf, tree)


def _real(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray, np.generic)):
        return None
    arr = np.asarray(value)
    if arr.size != 1 or not np.issubdtype(arr.dtype, np.number):
        return None
    return float(arr.reshape(()))


def stats_loglik(stats: Any) -> float | None:
    """The observed-data log-likelihood that summed statistics carry, or None.

    The protocol of :mod:`em_helpers.streaming`: statistics may carry each chunk's
    :math:`\\ell_c(\\theta) = \\sum_{i \\in c}\\log p(x_i \\mid \\theta)`, additive like the rest,
    as an attribute ``loglik`` (:class:`em_helpers.models.gmm.SuffStats`) or a dict key
    ``"loglik"``. The total is :math:`\\ell(\\theta)`, plus the attribute ``log_prior`` when
    the statistics have one (MAP-EM ascends the log posterior; the prior is not a sum over
    chunks, so only an object that keeps it once can carry it).
    """
    if isinstance(stats, dict):
        return _real(stats["loglik"]) if "loglik" in stats else None
    value = _real(getattr(stats, "loglik", None))
    if value is None:
        return None
    prior = _real(getattr(stats, "log_prior", 0.0))
    return value + (0.0 if prior is None else prior)


class _Passes:
    """One E-step pass per point: ``get(theta)`` runs ``pass_fn(theta)`` unless the last call
    was at the same :math:`\\theta` (:func:`~em_helpers.run_em` asks for :math:`\\ell(\\theta)`
    and then the E-step at that :math:`\\theta`; one pass serves both). ``n_passes`` counts
    the passes made."""

    def __init__(self, pass_fn: Callable[[Any], Any]):
        self.pass_fn = pass_fn
        self.n_passes = 0
        self._key: bytes | None = None
        self._stats: Any = None
        self._ll: float | None = None

    @staticmethod
    def _key_of(theta: Any) -> bytes:
        return np.ascontiguousarray(theta, dtype=float).tobytes()

    def get(self, theta: Any) -> Any:
        key = self._key_of(theta)
        if key != self._key:
            self._stats = self.pass_fn(theta)
            self._ll = stats_loglik(self._stats)  # read now: m_step may change the stats
            self._key = key
            self.n_passes += 1
        return self._stats

    def loglik(self, theta: Any) -> float:
        self.get(theta)
        if self._ll is None:
            raise TypeError("the statistics carry no loglik (see stats_loglik)")
        return self._ll


@dataclass
class StreamingEMResult(EMResult):
    """What :func:`~em_helpers.streaming.chunked_em` and
    :func:`~em_helpers.streaming.dask_em` return: an :class:`~em_helpers.EMResult` with

    Attributes
    ----------
    n_passes : int
        Passes over the data the run made (each an E-step, and :math:`\\ell` when the
        statistics carry it): ``n_evals + 1`` for plain EM with the log-likelihood from the
        statistics (the last pass gives :math:`\\ell` at the final iterate), ``n_evals``
        without it; SQUAREM adds one per rejected extrapolation.
    """

    n_passes: int = 0


def _em_with_passes(passes: _Passes, m_step: Callable[[Any], Any], theta0: Any,
                    run_em_kwargs: dict[str, Any]) -> StreamingEMResult:
    """:func:`run_em` with ``passes.get`` as the E-step and, unless ``loglik`` is among the
    keywords (None switches it off), the log-likelihood the statistics carry, checked for
    at ``theta0`` (whose pass the first E-step then reuses)."""
    if not callable(m_step):
        raise TypeError(f"m_step must be a callable m_step(stats) -> theta, got {m_step!r}")
    kwargs = dict(run_em_kwargs)
    if "loglik" not in kwargs and _plausible_start(theta0, kwargs.get("valid")):
        passes.get(theta0)
        if passes._ll is not None:
            kwargs["loglik"] = passes.loglik
    res = run_em(passes.get, m_step, theta0, **kwargs)
    return StreamingEMResult(**{f.name: getattr(res, f.name) for f in fields(res)},
                             n_passes=passes.n_passes)


def _plausible_start(theta0: Any, valid: Any) -> bool:
    """Whether ``theta0`` is worth a pass before :func:`run_em` checks it (a finite real
    vector inside ``valid``); otherwise run_em's own error is the one to see."""
    try:
        theta = np.asarray(theta0, dtype=float)
    except (TypeError, ValueError):
        return False
    if theta.ndim > 1 or theta.size == 0 or not np.all(np.isfinite(theta)):
        return False
    if valid is not None:
        try:
            return callable(valid) and bool(valid(theta0 if np.ndim(theta0) == 0 else theta))
        except Exception:  # noqa: BLE001 - run_em reports a failing valid itself
            return False
    return True


# ---- chunks in memory, or regenerated from a seed ---------------------------------------


class RowBlocks:
    """What every block source shares: ``n`` rows in blocks of ``chunk`` (the last one
    shorter), the block index checked, iteration over the blocks, and the same rows as a
    lazy ``dask.array`` (one task per block). A subclass sets ``n``, ``chunk``, ``tail``
    (the trailing shape) and ``dtype``, and reads a block in ``_read(b, start, size)``."""

    n: int
    chunk: int
    tail: tuple[int, ...]
    dtype: np.dtype

    @property
    def sizes(self) -> tuple[int, ...]:
        """Rows of each block."""
        full, rest = divmod(self.n, self.chunk)
        return (self.chunk,) * full + ((rest,) if rest else ())

    def __len__(self) -> int:
        return len(self.sizes)

    def block(self, b: int) -> np.ndarray:
        """Block ``b`` (``0 <= b < len(self)``) as a numpy array."""
        if isinstance(b, bool) or not isinstance(b, numbers.Integral):
            raise TypeError(f"b must be an integer block index, got {b!r}")
        if not 0 <= b < len(self):
            raise ValueError(f"b must be in 0..{len(self) - 1} (there are {len(self)} blocks), "
                             f"got {b}")
        b = int(b)
        return self._read(b, b * self.chunk, self.sizes[b])

    def _read(self, b: int, start: int, size: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

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


class SeededBlocks(RowBlocks):
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

    def _read(self, b: int, start: int, size: int) -> np.ndarray:
        """Block ``b``, drawn now from its own seed."""
        out = np.asarray(self.draw(np.random.default_rng([self.seed, b]), size))
        if out.shape != (size, *self.tail):
            raise ValueError(f"draw(rng, {size}) returned shape {out.shape}, "
                             f"expected {(size, *self.tail)}")
        return out



def _chunk_source(chunks: Any) -> Callable[[], Iterable[np.ndarray]]:
    """A function returning a fresh iterable over the chunks on each call (one pass)."""
    if callable(chunks):
        return chunks
    if isinstance(chunks, np.ndarray):
        raise TypeError("chunks is one array: pass a list of chunks, e.g. np.array_split(x, k)")
    if isinstance(chunks, (str, bytes)):
        raise TypeError(f"chunks must be a sequence of arrays, got the string {chunks!r}")
    if isinstance(chunks, Iterator):
        raise TypeError(
            "chunks is an iterator, which one EM pass would exhaust: pass a sequence, a "
            "SeededBlocks, or a function returning a fresh iterator"
        )
    if not isinstance(chunks, Iterable):
        raise TypeError(f"chunks must be a sequence of arrays, got {type(chunks).__name__}")
    return lambda: chunks
