"""Data on disk, streamed in blocks: one ``.npy`` file, each block read at its offset.

:func:`write_npy` writes a data set block by block (a :class:`SeededBlocks`, or any iterable
of arrays) into one ``.npy`` file without ever holding it all; :class:`NpyBlocks` reads it
back block by block — in this process (iterate, or :meth:`NpyBlocks.block`) or on Dask
workers (:meth:`NpyBlocks.to_dask`: each task opens the file and reads its rows, so only
the path travels). Why one ``.npy`` read block by block at offsets, and not a memory map,
a directory of per-block files or a zarr store: measured in ``bench/bench_dask.py``
(bench/README.md). Per-block files pay an open and a header parse per block; a memory map
reads as fast, but every page it touches stays mapped, so the process's resident memory
grows to the whole file (800 MB at N = 1e8) instead of one block; and random simulated
floats do not compress, so zarr's codecs would only add a dependency.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .blocks import RowBlocks

__all__ = ['NpyBlocks', 'write_npy']


def write_npy(path: str | os.PathLike[str], blocks: Iterable[np.ndarray], n: int | None = None,
              ) -> NpyBlocks:
    """Write ``blocks`` (arrays of shape ``(m,)`` or ``(m, p)``, stacked by rows) into the
    ``.npy`` file ``path``, one block at a time, and return it as :class:`NpyBlocks` with the
    same block size as the first block.

    ``n`` (the total number of rows) is taken from ``blocks`` when it has ``n`` (a
    :class:`SeededBlocks`) or a length of rows; otherwise give it. Memory: one block.

    Raises
    ------
    ValueError
        Blocks of different trailing shapes or dtypes, or fewer/more rows than ``n``.
    """
    if n is None:
        n = getattr(blocks, "n", None)
    if n is None:
        if not isinstance(blocks, (list, tuple)):
            raise ValueError("n (the number of rows) is needed when blocks is an iterator")
        n = sum(len(b) for b in blocks)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    path = Path(path)
    out = None
    row = chunk = 0
    for block in blocks:
        block = np.asarray(block)
        if block.ndim not in (1, 2) or block.shape[0] == 0:
            raise ValueError(f"each block must be a non-empty (m,) or (m, p) array, got "
                             f"shape {block.shape}")
        if out is None:
            chunk = block.shape[0]
            out = np.lib.format.open_memmap(path, mode="w+", dtype=block.dtype,
                                            shape=(int(n), *block.shape[1:]))
        if block.shape[1:] != out.shape[1:] or block.dtype != out.dtype:
            raise ValueError(f"block of shape {block.shape}, {block.dtype} does not match "
                             f"the first, {out.shape[1:]}, {out.dtype}")
        if row + block.shape[0] > n:
            raise ValueError(f"the blocks hold more than n = {n} rows")
        out[row:row + block.shape[0]] = block
        row += block.shape[0]
    if out is None:
        raise ValueError("blocks is empty")
    if row != n:
        raise ValueError(f"the blocks hold {row} rows, not n = {n}")
    out.flush()
    del out
    return NpyBlocks(path, chunk)


class NpyBlocks(RowBlocks):
    """The rows of a ``.npy`` file in blocks of ``chunk`` rows, read on demand.

    Block ``b`` holds rows ``b*chunk`` to ``min((b+1)*chunk, n)``: :meth:`block` reads just
    those bytes (``np.fromfile`` at the block's offset; memory: one block), iterating reads
    the blocks in order, and :meth:`to_dask` is the same data as a lazy ``dask.array``
    whose tasks read their own rows. The same interface as :class:`SeededBlocks` (``n``, ``chunk``,
    ``sizes``, ``len``, ``block``, iteration, ``to_dask``), so ``chunked_em``, ``dask_em``,
    ``incremental_em`` and ``online_em`` take either.

    Parameters
    ----------
    path : path-like
        A ``.npy`` file of shape ``(n,)`` or ``(n, p)``.
    chunk : int
        Rows per block, at least 1.
    """

    def __init__(self, path: str | os.PathLike[str], chunk: int):
        if isinstance(chunk, bool) or not isinstance(chunk, numbers.Integral) or chunk < 1:
            raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}")
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no .npy file at {self.path}")
        with open(self.path, "rb") as f:
            major, _ = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if major == 1
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(f)
            self.offset = f.tell()  # where the data start
        if fortran or dtype.hasobject:
            raise ValueError(f"{self.path} must hold a C-ordered numeric array")
        if len(shape) not in (1, 2) or shape[0] == 0:
            raise ValueError(f"{self.path} must hold an (n,) or (n, p) array, got {shape}")
        self.n, self.chunk = int(shape[0]), int(chunk)
        self.tail, self.dtype = tuple(shape[1:]), dtype
        self._row = int(np.prod(self.tail, dtype=int))  # numbers per row

    @property
    def nbytes(self) -> int:
        """Size of the data in bytes."""
        return self.n * int(np.prod(self.tail, dtype=int)) * self.dtype.itemsize

    def _read(self, b: int, start: int, size: int) -> np.ndarray:
        """Block ``b``: its rows read from the file into memory."""
        out = np.fromfile(self.path, dtype=self.dtype, count=size * self._row,
                          offset=self.offset + start * self._row * self.dtype.itemsize)
        return out.reshape(size, *self.tail)


    def __repr__(self) -> str:
        return (f"NpyBlocks({str(self.path)!r}, chunk={self.chunk}): {self.n:,} rows"
                f"{' x ' + str(self.tail[0]) if self.tail else ''}, {len(self)} blocks")
