"""The machinery of the course's exercise checks: a registry, the verdict, diagnoses.

An exercise's check is a function of the reader's answer that returns a short message when
the answer is right and raises :class:`Wrong` (with what is wrong, never the solution) when
it is not. :func:`exercise` registers it under its id (``"01.2"``: notebook 01, exercise 2),
together with *wrong answers* it must reject (factories, so that building them costs nothing
until a test asks): the test suite runs every check on its wrong answers, and every
solutions notebook runs it on its solution, so a check that accepts anything, or rejects the
solution, fails CI.

:func:`check` is what a reader calls. It never raises for a wrong or unfinished answer: an
answer left as ``...`` (or a function still returning ``None``) reads "not answered yet", an
exception inside the reader's own function is reported with the call that raised it. A bug
in a check itself is not hidden (it propagates).

The diagnoses every check shares live here: :func:`call` (run the reader's function, an
exception becomes a :class:`Wrong` naming the call), :func:`as_array` (a number or array of
the expected shape, finite), :func:`compare` (the direction and size of the error, never
the value).
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Exercise",
    "Feedback",
    "UNANSWERED",
    "Wrong",
    "as_array",
    "call",
    "check",
    "compare",
    "exercise",
    "exercises",
    "get",
    "pair_of",
    "settings_of",
]

#: What an unanswered placeholder looks like: ``...`` or ``None``.
UNANSWERED = (Ellipsis, None)

_ID = re.compile(r"^(\d\d)\.(\d+)$")
_REGISTRY: dict[str, Exercise] = {}
_BANDS = (1, 5, 25, 100)  # percent
#: The notebooks that have checks: "01" -> the module holding them (``nb01.py`` ...).
MODULES = {
    m.name[2:]: f"{__package__}.{m.name}"
    for m in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name)
    if re.fullmatch(r"nb\d\d", m.name)
}


class Wrong(Exception):
    """Raised by a check: the answer is wrong; the message says what, not the solution."""


class NotAnswered(Wrong):
    """The answer is still the placeholder (``...``, ``None``, a function returning None)."""


@dataclass(frozen=True)
class Feedback:
    """The verdict on one answer: ``passed`` and a message for the reader.

    Truthy when passed, so ``assert check("01.2", answer)`` works in a solutions notebook.
    """

    exercise: str
    passed: bool
    message: str
    answered: bool = True
    #: The check itself failed on this answer (an exception it did not turn into a
    #: diagnosis): the reader still gets a plain message; the tests treat it as a defect.
    error: bool = False

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        mark = "✓" if self.passed else ("…" if not self.answered else "✗")
        return f"{mark} Exercise {self.exercise}: {self.message}"

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Exercise:
    """One registered check.

    Attributes
    ----------
    id : str
        ``"NN.k"``: notebook NN, exercise k.
    checker : callable
        ``checker(answer) -> str``: the message for a right answer; raises :class:`Wrong`.
    wrong : tuple of callables
        Factories of answers the check must reject (each called with no argument).
    """

    id: str
    checker: Callable[[Any], str]
    wrong: tuple[Callable[[], Any], ...] = field(default=())


def exercise(
    id: str, *, wrong: Iterable[Callable[[], Any]]
) -> Callable[[Callable[[Any], str]], Callable[[Any], str]]:
    """Register ``checker`` as the check of exercise ``id``; ``wrong``: answers to reject.

    Raises
    ------
    ValueError
        If ``id`` is not ``"NN.k"``, is registered twice, or ``wrong`` is empty (a check
        with no answer it must reject is a check that cannot be shown to fail).
    """
    if not _ID.match(id):
        raise ValueError(f"id must look like '01.2', got {id!r}")
    wrong = tuple(wrong)
    if not wrong:
        raise ValueError(f"exercise {id}: wrong must list at least one answer to reject")

    def register(checker: Callable[[Any], str]) -> Callable[[Any], str]:
        if id in _REGISTRY and _REGISTRY[id].checker is not checker:
            raise ValueError(f"exercise {id} is registered twice")
        _REGISTRY[id] = Exercise(id, checker, wrong)
        return checker

    return register


def _load(notebook: str) -> None:
    if notebook not in MODULES:
        raise KeyError(f"no exercises for notebook {notebook!r}; notebooks: {sorted(MODULES)}")
    importlib.import_module(MODULES[notebook])


def get(id: str) -> Exercise:
    """The registered exercise ``id`` (its notebook's checks are imported on first use)."""
    m = _ID.match(str(id))
    if not m:
        raise ValueError(f"id must look like '01.2', got {id!r}")
    _load(m.group(1))
    if id not in _REGISTRY:
        known = sorted(k for k in _REGISTRY if k.startswith(m.group(1) + "."))
        raise KeyError(f"exercise {id} has no check; notebook {m.group(1)} has {known}")
    return _REGISTRY[id]


def exercises() -> dict[str, Exercise]:
    """Every registered exercise, all notebooks' checks imported, in id order."""
    for notebook in MODULES:
        _load(notebook)
    key = lambda k: tuple(int(x) for x in k.split("."))  # noqa: E731
    return {k: _REGISTRY[k] for k in sorted(_REGISTRY, key=key)}


def _unanswered(answer: Any) -> bool:
    return any(answer is u for u in UNANSWERED)


def check(id: str, answer: Any) -> Feedback:
    """Check the reader's ``answer`` to exercise ``id`` and say what is right or wrong.

    Parameters
    ----------
    id : str
        The exercise, ``"NN.k"`` as its heading shows it.
    answer : object
        What the exercise asks for: a number, an array, a function, a dict of settings.

    Returns
    -------
    Feedback
        ``passed`` and a message; shown as one line in a notebook. Never raises for a wrong
        or unfinished answer (an unknown ``id`` raises ``KeyError``).
    """
    ex = get(id)
    if _unanswered(answer):
        return Feedback(id, False, "not answered yet: replace the `...` with your answer.", False)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # a reader's nan or overflow is diagnosed, not warned
            message = ex.checker(answer)
    except NotAnswered as exc:
        return Feedback(id, False, str(exc), False)
    except Wrong as exc:
        return Feedback(id, False, str(exc))
    except Exception as exc:  # never a traceback for an answer of an unexpected kind
        return Feedback(
            id, False,
            f"your answer could not be checked ({type(exc).__name__}: {exc}); is it the kind "
            "of answer the exercise asks for?", error=True,
        )
    return Feedback(id, True, message)


# --- diagnoses shared by the checks ------------------------------------------------------------


def _show(args: tuple, kwargs: dict) -> str:
    def short(x: Any) -> str:
        if isinstance(x, np.ndarray):
            return f"array of shape {x.shape}"
        text = repr(x)
        return text if len(text) <= 40 else text[:37] + "..."

    parts = [short(a) for a in args] + [f"{k}={short(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


def call(fn: Any, *args: Any, name: str = "your function", **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``; not callable, an exception or ``None`` become a :class:`Wrong`."""
    if _unanswered(fn):
        raise NotAnswered("not answered yet: replace the `...` with your answer.")
    if not callable(fn):
        raise Wrong(f"expected a function, got {type(fn).__name__}")
    try:
        out = fn(*args, **kwargs)
    except Exception as exc:  # the reader's code: report it, never crash the check
        raise Wrong(f"{name}({_show(args, kwargs)}) raised {type(exc).__name__}: {exc}") from None
    if out is None or out is Ellipsis:
        raise NotAnswered(f"not answered yet: {name} returned {out!r} (fill in its body).")
    return out


def as_array(
    value: Any, shape: tuple[int, ...] | None = None, what: str = "the answer"
) -> np.ndarray:
    """``value`` as a finite float array of ``shape``, or a :class:`Wrong` saying why not."""
    if _unanswered(value):
        raise NotAnswered("not answered yet: replace the `...` with your answer.")
    if isinstance(value, (str, bytes)):
        raise Wrong(f"{what} should be numbers, got the text {value!r}")
    try:
        raw = np.asarray(value)
        if np.iscomplexobj(raw):
            if np.any(np.imag(raw) != 0):
                raise Wrong(f"{what} has complex values: it should be real")
            raw = np.real(raw)
        if raw.dtype.kind in "US":  # text
            raise TypeError
        arr = np.asarray(raw, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise Wrong(f"{what} should be (finite) numbers, got {type(value).__name__}") from None
    if shape is not None and arr.shape != tuple(shape) and arr.size == math.prod(shape) \
            and np.squeeze(arr).shape == tuple(n for n in shape if n != 1):
        arr = arr.reshape(shape)  # a column (n, 1) or a (1,) array where a number is asked
    if shape is not None and arr.shape != tuple(shape):
        want = "a single number" if shape == () else f"shape {tuple(shape)}"
        raise Wrong(f"{what} has the wrong shape: expected {want}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise Wrong(f"{what} is not finite (nan or inf)")
    return arr


def compare(
    got: Any, want: Any, *, rtol: float = 1e-6, atol: float = 0.0, what: str = "the answer"
) -> None:
    """Raise :class:`Wrong` unless ``got`` agrees with ``want`` to ``rtol``/``atol``.

    The message gives the direction and a coarse band of the error (``too large (off by
    less than 25%)``) when the answer is more than 5% off, and only "within 5% but not
    within the tolerance" nearer than that: never ``want`` itself, and no direction that would
    let a reader bisect their way to it.
    """
    want = np.asarray(want, dtype=float)
    got = as_array(got, want.shape, what)
    err = np.abs(got - want)
    bad = err > atol + rtol * np.abs(want)
    if not np.any(bad):
        return
    i = int(np.argmax(np.where(bad, err / np.maximum(np.abs(want), 1e-300), -1.0)))
    g, w = got.reshape(-1)[i], want.reshape(-1)[i]
    entry = [int(j) for j in np.unravel_index(i, want.shape)]
    where = "" if want.ndim == 0 else f" (entry {entry})"
    rel = abs(g - w) / abs(w) if w != 0 else math.inf
    if 100 * rel < _BANDS[1]:  # close: no direction, or bisection would find the value
        raise Wrong(f"{what}{where} is within 5% but not within the tolerance: more than "
                    "rounding, so check the formula too")
    # a coarse band, so that the message never gives the value away (got - error = want)
    side = "too large" if g > w else "too small"
    size = next((f" (off by less than {b:g}%)" for b in _BANDS[2:] if 100 * rel < b),
                " (far off)")
    raise Wrong(f"{what}{where} is {side}{size}")


def settings_of(
    answer: Any, names: Iterable[str], ranges: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The settings an explorer exercise is answered with, checked against the sliders.

    ``answer`` is the explorer itself (its ``values()``), a dict of values, or a dict of
    the widgets (their ``.value``). ``ranges`` maps a name to ``(lo, hi)`` (inclusive; two
    ints: a whole number is required), ``(lo, hi, step)`` (a linear slider's positions) or
    a set of allowed values: a value the explorer cannot take is a :class:`Wrong`, as is a
    missing name or an answer of another kind.
    """
    names = tuple(names)
    if isinstance(answer, dict):
        values = answer
    elif hasattr(answer, "controls") and callable(getattr(answer, "values", None)):
        values = answer.values()  # an Explorer
    else:
        raise Wrong(f"give the explorer itself or a dict of its settings {list(names)}, "
                    f"got {type(answer).__name__}")
    values = {k: getattr(v, "value", v) for k, v in values.items()}  # sliders -> values
    missing = [n for n in names if n not in values]
    if missing:
        raise Wrong(f"the settings lack {missing}")
    out = {}
    for name in names:
        value, spec = values[name], (ranges or {}).get(name)
        if spec is None:
            out[name] = value
        elif isinstance(spec, (set, frozenset)):
            if not isinstance(value, (str, int, float)) or value not in spec:
                offered = ", ".join(repr(v) for v in sorted(spec, key=str))
                raise Wrong(f"{name} = {value!r} is not a value the explorer offers "
                            f"(its values: {offered})")
            out[name] = value
        else:
            lo, hi, *step = spec
            if isinstance(value, (str, bytes)):
                raise Wrong(f"{name} should be a number, got the text {value!r}")
            try:
                x = float(value)
            except (TypeError, ValueError, OverflowError):
                raise Wrong(f"{name} should be a number, got {value!r}") from None
            if isinstance(value, bool) or not (math.isfinite(x) and lo <= x <= hi):
                raise Wrong(f"{name} = {value!r} is outside the explorer's range [{lo}, {hi}]")
            whole = isinstance(lo, int) and isinstance(hi, int)
            if whole and x != int(x):
                raise Wrong(f"{name} = {value!r}: the explorer takes whole numbers only")
            if step and abs((x - lo) / step[0] - round((x - lo) / step[0])) > 1e-6:
                raise Wrong(f"{name} = {value!r} is not a position of the explorer's slider "
                            f"(from {lo} in steps of {step[0]})")
            out[name] = int(x) if whole else x
    return out


def pair_of(out: Any, what: str, names: str) -> tuple[Any, Any]:
    """The two parts of a pair answer: any length-2 sequence, or an ndarray whose first
    axis has length 2 (``np.array(f(...))``); anything else is a :class:`Wrong`."""
    if isinstance(out, np.ndarray) and out.ndim >= 1 and out.shape[0] == 2:
        return out[0], out[1]
    if isinstance(out, Sequence) and not isinstance(out, (str, bytes)) and len(out) == 2:
        return out[0], out[1]
    got = (f"an array of shape {out.shape}" if isinstance(out, np.ndarray)
           else f"a {type(out).__name__} of length {len(out)}"
           if isinstance(out, Sequence) and not isinstance(out, (str, bytes))
           else type(out).__name__)
    raise Wrong(f"{what} should return a pair {names}, got {got}")
