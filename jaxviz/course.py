"""Exercises that check themselves, and claims a lesson asserts: the graders of the course.

Every lesson in ``notebooks/`` ends with exercises; a student's answer is checked by code that
says what is wrong, not just that it is wrong. The same checks run in the test suite on the
solutions, so a retrained zoo model or a changed method cannot silently break a lesson.

Notebook conventions
--------------------
- **Exercise.** A markdown cell ``### Exercise 1.2: ...`` poses it; the code cell below it holds
  ``answer = ...`` and the check, e.g. ``course.check_value("1.2", answer, expected)``. The
  Ellipsis ``...`` means "not answered yet": the check prints a reminder and returns ``False``
  instead of raising, so *Run all* works before a student has answered anything.
- **Solution.** The next code cell, tagged ``solution`` and collapsed (cell metadata
  ``{"tags": ["solution"], "jupyter": {"source_hidden": true}}``), sets the answer and calls the
  same check. Executing the notebook (the test suite does, offline) therefore passes every
  solution through its grader; a wrong solution raises :class:`WrongAnswer`.
- **Claim.** Every checkable sentence in the text ("67% of Grad-CAM's mass lies on the shape") is
  computed in a code cell tagged ``claim`` and asserted with :func:`claim`, so the text cannot
  drift from its figures.

Example:
    >>> from jaxviz import course
    >>> course.check_value("0.1", ..., 4.0)
    Exercise 0.1: not answered yet. Replace `...` with your answer and run the cell again.
    False
    >>> course.check_value("0.1", 4.0, 4.0)
    Exercise 0.1: correct.
    True
    >>> course.check_choice("0.2", "b", "a", why={"b": "b looks at the input only."})
    Traceback (most recent call last):
    ...
    jaxviz.course.WrongAnswer: Exercise 0.2: 'b' is not it. b looks at the input only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "ClaimFailed",
    "WrongAnswer",
    "check_choice",
    "check_function",
    "check_that",
    "check_value",
    "claim",
]


class WrongAnswer(AssertionError):
    """A student's answer (or a solution cell) does not pass its exercise's check."""


class ClaimFailed(AssertionError):
    """A sentence of a lesson is no longer true of the figures it describes."""


def _unanswered(exercise: str, answer: Any) -> bool:
    if answer is not Ellipsis:
        return False
    print(
        f"Exercise {exercise}: not answered yet. "
        "Replace `...` with your answer and run the cell again."
    )
    return True


def _correct(exercise: str, explanation: str | None) -> bool:
    print(f"Exercise {exercise}: correct." + (f" {explanation}" if explanation else ""))
    return True


def _wrong(exercise: str, message: str, hint: str | None) -> WrongAnswer:
    return WrongAnswer(f"Exercise {exercise}: {message}" + (f" Hint: {hint}" if hint else ""))


def _difference(answer: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> str | None:
    """Why `answer` is not `expected` within tolerance, in words a student can act on, or None."""
    if answer.shape != expected.shape:
        return f"your answer has shape {answer.shape}, the expected one has shape {expected.shape}."
    if np.isnan(answer).any() and not np.isnan(expected).any():
        return "your answer contains NaN."
    if np.allclose(answer, expected, rtol=rtol, atol=atol, equal_nan=True):
        return None
    if expected.any() and np.allclose(answer, -expected, rtol=rtol, atol=atol):
        return "your answer has the right size but the opposite sign."
    if answer.ndim == 0:
        return f"your answer {float(answer):.6g} is not {float(expected):.6g}."
    wrong = ~np.isclose(answer, expected, rtol=rtol, atol=atol, equal_nan=True)
    first = tuple(int(i) for i in np.argwhere(wrong)[0])
    return (
        f"{int(wrong.sum())} of {wrong.size} entries differ; at index {first} your answer is "
        f"{float(answer[first]):.6g}, the expected value is {float(expected[first]):.6g}."
    )


def check_value(
    exercise: str,
    answer: Any,
    expected: Any,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    hint: str | None = None,
    explanation: str | None = None,
) -> bool:
    """Checks a number or an array against the expected one, within ``rtol``/``atol``.

    Args:
        exercise: the exercise's number as the lesson shows it, e.g. ``"1.2"``.
        answer: the student's answer; ``...`` means not answered yet.
        expected: the right value (a number, a sequence or an array).
        rtol: relative tolerance, as in ``numpy.allclose``.
        atol: absolute tolerance, as in ``numpy.allclose``.
        hint: said when the answer is wrong, after what is wrong with it.
        explanation: said when the answer is right (why it is right).

    Returns:
        True when right, False when not answered yet.

    Raises:
        WrongAnswer: naming what differs (shape, sign, value, which entries).
    """
    if _unanswered(exercise, answer):
        return False
    try:
        given = np.asarray(answer, dtype=np.float64)
    except (TypeError, ValueError):
        raise _wrong(
            exercise,
            f"expected a number or an array of numbers, got {type(answer).__name__} {answer!r}.",
            hint,
        ) from None
    problem = _difference(given, np.asarray(expected, dtype=np.float64), rtol, atol)
    if problem is not None:
        raise _wrong(exercise, problem, hint)
    return _correct(exercise, explanation)


def check_choice(
    exercise: str,
    answer: Any,
    correct: Any,
    *,
    why: Mapping[Any, str] | None = None,
    explanation: str | None = None,
) -> bool:
    """Checks a multiple-choice answer; strings compare without case or surrounding spaces.

    Args:
        exercise: the exercise's number, e.g. ``"2.1"``.
        answer: the option the student picked; ``...`` means not answered yet.
        correct: the right option, or a collection of options that are all accepted.
        why: for wrong options, the misconception each one reveals (said when it is picked).
        explanation: said when the answer is right.

    Raises:
        WrongAnswer: with the explanation of the picked option where ``why`` has one.
    """
    if _unanswered(exercise, answer):
        return False
    accepted = correct if isinstance(correct, (set, frozenset, list, tuple)) else [correct]
    if _normal(answer) in {_normal(option) for option in accepted}:
        return _correct(exercise, explanation)
    reasons = {_normal(option): reason for option, reason in (why or {}).items()}
    raise _wrong(
        exercise,
        f"{answer!r} is not it."
        + (f" {reasons[_normal(answer)]}" if _normal(answer) in reasons else ""),
        None,
    )


def _normal(option: Any) -> Any:
    return option.strip().lower() if isinstance(option, str) else option


def check_that(
    exercise: str,
    answer: Any,
    condition: Callable[[Any], bool],
    wrong: str,
    *,
    explanation: str | None = None,
) -> bool:
    """Checks that ``condition(answer)`` holds, for answers with many right forms.

    Args:
        exercise: the exercise's number.
        answer: the student's answer; ``...`` means not answered yet.
        condition: returns True when the answer is right.
        wrong: what is wrong when it is not (and what to try).
        explanation: said when the answer is right.
    """
    if _unanswered(exercise, answer):
        return False
    if not condition(answer):
        raise _wrong(exercise, wrong, None)
    return _correct(exercise, explanation)


def check_function(
    exercise: str,
    function: Any,
    reference: Callable,
    inputs: Iterable[Any],
    *,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    hint: str | None = None,
) -> bool:
    """Checks a function the student wrote against a reference on a few inputs.

    Args:
        exercise: the exercise's number.
        function: the student's function; ``...`` means not written yet.
        reference: the right function.
        inputs: arguments to call both with (each one argument, or a tuple of arguments).
        rtol: relative tolerance on the outputs.
        atol: absolute tolerance on the outputs.
        hint: said when an output is wrong.

    Raises:
        WrongAnswer: naming the first input whose output differs, and how.
    """
    if _unanswered(exercise, function):
        return False
    if not callable(function):
        raise _wrong(exercise, f"expected a function, got {type(function).__name__}.", hint)
    for number, arguments in enumerate(inputs):
        arguments = arguments if isinstance(arguments, tuple) else (arguments,)
        expected = np.asarray(reference(*arguments), dtype=np.float64)
        got = np.asarray(function(*arguments), dtype=np.float64)
        problem = _difference(got, expected, rtol, atol)
        if problem is not None:
            raise _wrong(exercise, f"on test input {number}, {problem}", hint)
    return _correct(exercise, None)


def claim(condition: Any, sentence: str) -> None:
    """Asserts that a sentence of the lesson is true of what the cells above computed.

    Args:
        condition: the computed check (anything numpy can reduce with ``all``).
        sentence: the sentence of the text this checks, quoted in the error.

    Raises:
        ClaimFailed: when the condition does not hold, quoting the sentence.
    """
    if not bool(np.all(condition)):
        raise ClaimFailed(
            f"The lesson says: {sentence!r}, but the computation above says otherwise."
        )
