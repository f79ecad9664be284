"""The graders lessons use: right answers pass, wrong ones raise saying what is wrong."""

import numpy as np
import pytest

from jaxviz import course


def test_unanswered_does_not_raise(capsys):
    assert course.check_value("1.1", ..., 3.0) is False
    assert course.check_choice("1.2", ..., "a") is False
    assert course.check_function("1.3", ..., np.square, [1.0]) is False
    assert course.check_that("1.4", ..., bool, "never") is False
    assert capsys.readouterr().out.count("not answered yet") == 4


def test_value_right_within_tolerance(capsys):
    assert course.check_value(
        "1.1", [1.0, 2.0 + 1e-9], np.array([1.0, 2.0]), explanation="Because."
    )
    assert "Exercise 1.1: correct. Because." in capsys.readouterr().out


@pytest.mark.parametrize(
    ("answer", "expected", "says"),
    [
        ([1.0, 2.0], [1.0, 2.0, 3.0], "shape (2,)"),
        ([-1.0, -2.0], [1.0, 2.0], "opposite sign"),
        (2.5, 3.0, "2.5 is not 3"),
        ([1.0, 9.0, 3.0], [1.0, 2.0, 3.0], "1 of 3 entries differ; at index (1,)"),
        ([np.nan, 1.0], [0.0, 1.0], "NaN"),
        ("three", 3.0, "expected a number"),
    ],
)
def test_value_wrong_says_what(answer, expected, says):
    with pytest.raises(
        course.WrongAnswer,
        match="Exercise 2.3: .*" + "".join(f"\\{c}" if c in "().[]" else c for c in says),
    ):
        course.check_value("2.3", answer, expected, hint="look again")


def test_choice_is_case_insensitive_and_explains_the_misconception():
    assert course.check_choice("3.1", " Guided Backprop ", "guided backprop")
    assert course.check_choice("3.1", 2, {1, 2})
    with pytest.raises(course.WrongAnswer, match="'gradient' is not it. The gradient changes"):
        course.check_choice(
            "3.1", "gradient", "guided backprop", why={"Gradient": "The gradient changes."}
        )


def test_function_names_the_failing_input():
    assert course.check_function("4.1", lambda x: x * x, np.square, [1.0, np.arange(3.0)])
    with pytest.raises(course.WrongAnswer, match="on test input 1"):
        course.check_function("4.1", lambda x: x + x, np.square, [2.0, np.arange(3.0)])
    with pytest.raises(course.WrongAnswer, match="expected a function"):
        course.check_function("4.1", 3, np.square, [1.0])


def test_that_and_claim():
    assert course.check_that("5.1", 7, lambda a: a > 5, "too small")
    with pytest.raises(course.WrongAnswer, match="too small"):
        course.check_that("5.1", 3, lambda a: a > 5, "too small")
    course.claim(np.array([True, True]), "both hold")
    with pytest.raises(course.ClaimFailed, match="'IG beats random'"):
        course.claim(np.array([True, False]), "IG beats random")
