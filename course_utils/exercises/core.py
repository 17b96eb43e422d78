"""Self-checking exercises: compare a learner's answer with the reference and say what differs.

``check_function`` runs the learner's function and the reference on the same random inputs;
``check_value`` compares one answer; ``check_prediction`` compares a prediction, made before an
experiment runs, with what it measured. All return a :class:`Verdict`: true when the answer is
right, shown in a notebook as its message. A function that still raises
``NotImplementedError`` counts as "not answered yet".

``set_language("zh")`` (the last line of a Chinese notebook's setup cell) chooses the language of
the learner-facing feedback; ``language()`` says which is chosen ("en" until set).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from course_utils.checks import check_callable, check_choice, check_integer, check_number, check_seed

LANGUAGES = ("en", "zh")  # English (the source) and Chinese (notebooks/zh/)
_language = "en"


def set_language(language: str) -> None:
    """Choose the language of the exercise checks' feedback for this kernel: "en" or "zh".

    A Chinese notebook calls ``set_language("zh")`` in its setup cell; any other value is a
    ValueError naming the allowed ones.
    """
    global _language
    _language = check_choice("language", language, LANGUAGES)


def language() -> str:
    """The language chosen with :func:`set_language` ("en" unless set): what feedback should be written in."""
    return _language


def localized(en: str, zh: str) -> str:
    """``en`` or ``zh``, whichever language :func:`set_language` chose.

    Every learner-facing message of the checks is written once in each language at the place it
    is produced (``localized(f"client {k}", f"客户端 {k}")``), so a check has one implementation
    and its two texts sit side by side.
    """
    return zh if _language == "zh" else en


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: ``bool(verdict)`` says whether it passed; it displays as its message."""

    correct: bool
    message: str

    def __bool__(self) -> bool:
        return self.correct

    def __repr__(self) -> str:
        return self.message


Hint = tuple[Callable[..., Any], str]  # (a known wrong function, what to tell a learner who wrote it)


def _describe(value: Any) -> str:
    """A short description of an input or output: arrays by shape, short values in full."""
    if isinstance(value, np.ndarray):
        return f"array{value.shape}" if value.size > 6 else np.array2string(value, precision=4)
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_describe(v) for v in value[:4]) + (", ..." if len(value) > 4 else "")
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def difference(got: Any, expected: Any, atol: float = 1e-6) -> str | None:
    """What differs between ``got`` and ``expected`` (numbers, arrays, lists/tuples of them), or None."""
    check_number("atol", atol, 0)
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return localized(f"expected a {type(expected).__name__} of {len(expected)} items, got {type(got).__name__}",
                             f"应为含 {len(expected)} 项的 {type(expected).__name__}，得到的是 {type(got).__name__}")
        if len(got) != len(expected):
            return localized(f"expected {len(expected)} items, got {len(got)}",
                             f"应有 {len(expected)} 项，得到 {len(got)} 项")
        for i, (g, e) in enumerate(zip(got, expected)):
            problem = difference(g, e, atol)
            if problem:
                return localized(f"item {i}: {problem}", f"第 {i} 项：{problem}")
        return None
    if isinstance(expected, (str, bool)) or expected is None:
        return None if got == expected else localized(f"expected {expected!r}, got {got!r}",
                                                      f"应为 {expected!r}，得到 {got!r}")
    try:
        got_array, expected_array = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    except (TypeError, ValueError):
        return localized(f"expected a number or array like {_describe(expected)}, got {_describe(got)}",
                         f"应为形如 {_describe(expected)} 的数或数组，得到 {_describe(got)}")
    if got_array.shape != expected_array.shape:
        return localized(f"expected shape {expected_array.shape}, got shape {got_array.shape}",
                         f"形状应为 {expected_array.shape}，得到的形状是 {got_array.shape}")
    if not np.allclose(got_array, expected_array, atol=atol, rtol=1e-5, equal_nan=True):
        with np.errstate(invalid="ignore"):  # inf - inf
            gap = np.abs(got_array - expected_array)
        close = np.isclose(got_array, expected_array, atol=atol, rtol=1e-5, equal_nan=True)
        # a NaN (or inf) where a number is expected is an infinite difference
        gap = np.where(close, 0.0, np.nan_to_num(gap, nan=np.inf, posinf=np.inf))
        where = tuple(int(i) for i in np.unravel_index(np.argmax(gap), gap.shape)) if gap.ndim else ()
        at = localized(f" at index {where}", f"，位于下标 {where}") if where else ""
        return localized(f"values differ: expected {_describe(expected_array)}, got {_describe(got_array)} "
                         f"(largest difference {np.max(gap):.4g}{at})",
                         f"数值不同：应为 {_describe(expected_array)}，得到 {_describe(got_array)}"
                         f"（最大差值 {np.max(gap):.4g}{at}）")
    return None


def check_function(
    learner_fn: Callable[..., Any],
    reference_fn: Callable[..., Any],
    make_inputs: Callable[[np.random.Generator], tuple],
    trials: int = 10,
    hints: Sequence[Hint] = (),
    atol: float = 1e-6,
    seed: int = 0,
) -> Verdict:
    """Call both functions on ``trials`` random inputs from ``make_inputs(rng)`` and compare.

    ``hints`` pairs known wrong functions with advice. When the learner's function is wrong,
    the first hint whose wrong function gives the same answers on every trial is added: with
    answers that take few values (booleans, small counts) a wrong function can agree on one
    input by chance, and a wrong hint misleads more than none. The verdict is correct when
    every trial matches.
    """
    check_callable("reference_fn", reference_fn, "the reference function")
    check_callable("make_inputs", make_inputs, "a function rng -> tuple of arguments")
    check_integer("trials", trials, 1)
    check_number("atol", atol, 0)
    check_seed(seed)
    rng = np.random.default_rng(seed)
    inputs = [make_inputs(rng) for _ in range(trials)]
    for args in inputs:
        expected = reference_fn(*copy.deepcopy(args))
        try:
            got = learner_fn(*copy.deepcopy(args))
        except NotImplementedError:
            return Verdict(False, localized(
                "Not answered yet: replace `raise NotImplementedError` with your code, then run this cell again.",
                "还没有作答：把 `raise NotImplementedError` 换成你的代码，再运行这个单元格。"))
        except Exception as error:
            return Verdict(False, localized(
                f"✗ Your function raised {type(error).__name__}: {error}\n  on input {_describe(args)}",
                f"✗ 你的函数抛出了 {type(error).__name__}：{error}\n  输入为 {_describe(args)}"))
        problem = difference(got, expected, atol)
        if problem:
            message = localized(f"✗ Not yet. On input {_describe(args)}:\n  {problem}",
                                f"✗ 还不对。输入为 {_describe(args)} 时：\n  {problem}")
            advice = next((advice for wrong_fn, advice in hints if _agrees(learner_fn, wrong_fn, inputs, atol)), None)
            return Verdict(False, message + (localized(f"\n  Hint: {advice}", f"\n  提示：{advice}") if advice else ""))
    return Verdict(True, localized(f"✓ Correct: your function matches the reference on {trials} random inputs.",
                                   f"✓ 正确：在 {trials} 组随机输入上，你的函数与参考实现的结果一致。"))


def _agrees(learner_fn: Callable[..., Any], wrong_fn: Callable[..., Any], inputs: list[tuple], atol: float) -> bool:
    """Whether ``learner_fn`` gives the same answers as ``wrong_fn`` on every input (False if either raises)."""
    try:
        return all(
            difference(learner_fn(*copy.deepcopy(a)), wrong_fn(*copy.deepcopy(a)), atol) is None for a in inputs
        )
    except Exception:  # the learner's function raised on another input: no hint fits
        return False


def check_value(answer: Any, expected: Any, explanation: str, atol: float = 1e-6) -> Verdict:
    """Compare one answer with the expected one; if wrong, the verdict includes ``explanation``."""
    check_number("atol", atol, 0)
    if answer is None or answer is Ellipsis:
        return Verdict(False, localized(
            "Not answered yet: set your answer in the cell above, then run this cell again.",
            "还没有作答：在上面的单元格里填好你的答案，再运行这个单元格。"))
    problem = difference(answer, expected, atol)
    if problem:
        return Verdict(False, localized(f"✗ Not yet: {problem}.\n  {explanation}",
                                        f"✗ 还不对：{problem}。\n  {explanation}"))
    return Verdict(True, localized("✓ Correct.", "✓ 正确。"))


def id_answer_problem(answer: Any, what: str, keys_name: str, looks_like: str) -> str | None:
    """Why ``answer`` cannot be the id of a ``what`` (a key of ``keys_name``), or None if it can.

    ``looks_like`` names what a float answer probably is (e.g. "an accuracy"). None and ``...``
    pass: check_value reports them as not answered yet.
    """
    if answer is None or answer is Ellipsis:
        return None
    if isinstance(answer, (bool, np.bool_)) or not isinstance(answer, (int, np.integer, float, np.floating)):
        return localized(f"The answer must be a {what} id: an integer, one of the keys of {keys_name}.",
                         f"答案必须是{what}的编号：一个整数，即 {keys_name} 的某个键。")
    if not float(answer).is_integer():
        return localized(f"Your answer looks like {looks_like}; "
                         f"the question asks for the {what} id (a key of {keys_name}).",
                         f"你的答案看起来像{looks_like}；题目问的是{what}的编号（{keys_name} 的某个键）。")
    return None


def check_prediction(answer: Any, choices: Sequence[str], measure: Callable[[], tuple[str, str]]) -> Verdict:
    """Compare a prediction made *before* running an experiment with what the experiment shows.

    ``answer`` is one of ``choices`` (case and surrounding spaces do not matter). Only once it
    is given does ``measure()`` run the experiment and return ``(outcome, what_was_measured)``:
    ``outcome`` is the choice that came true, ``what_was_measured`` says it in numbers, and the
    verdict shows it whether the prediction was right or wrong.
    """
    check_callable("measure", measure, "a function () -> (outcome, what was measured)")
    allowed = tuple(choice.lower() for choice in choices)
    if answer is None or answer is Ellipsis:
        return Verdict(False, localized("Not answered yet: write down your prediction in the cell above first; "
                                        "the experiment runs once you have.",
                                        "还没有作答：先在上面的单元格里写下你的预测；写好之后实验才会运行。"))
    if not isinstance(answer, str) or answer.strip().lower() not in allowed:
        return Verdict(False, localized(f"✗ Not yet: answer with one of {tuple(choices)}, got {answer!r}.",
                                        f"✗ 还不对：请用 {tuple(choices)} 之一作答，得到的是 {answer!r}。"))
    outcome, measured = measure()
    if outcome.lower() not in allowed:
        raise ValueError(f"measure() must return one of {tuple(choices)} as its outcome, got {outcome!r}")
    if answer.strip().lower() == outcome.lower():
        return Verdict(True, localized(f"✓ Right: {outcome}. {measured}", f"✓ 预测正确：{outcome}。{measured}"))
    return Verdict(False, localized(
        f"✗ Not what happened: you predicted {answer.strip()!r}, the run says {outcome!r}. {measured}",
        f"✗ 与实际不符：你预测的是 {answer.strip()!r}，运行结果是 {outcome!r}。{measured}"))
