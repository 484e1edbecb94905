"""Checks for the course's exercises: ``check("01.2", answer)`` says what is right or wrong.

Every notebook ends with exercises; those with a computable answer have a one-line check
the reader runs after answering::

    from em_helpers.exercises import check
    check("01.2", my_m_step)   # ✓ / ✗ and what is wrong (never the solution)

The checks call the reader's function on their own inputs and compare with reference
answers computed from the course's models (nothing is stored as a printed number). The
solutions are in ``notebooks/solutions/``. One module per notebook (``nb01`` ... ``nb11``)
holds its checks; :mod:`~em_helpers.exercises.base` the registry and shared diagnoses.
"""

from __future__ import annotations

from .base import Feedback, Wrong, check, exercises, get

__all__ = ["Feedback", "Wrong", "check", "exercises", "get"]
