"""The one response comparison: a model's answer against the expected response, numbers within an absolute
and a relative tolerance. Standard library only.

Used by the image's scoring check (``check.py`` beside it, in every model image as ``model_server/compare.py``)
and by the edge smoke module (``edge/smoke_module/compare.py``: a byte-identical copy, since that image is built
from its own folder; ``tests/edge/test_smoke_module.py`` keeps the two equal).

A tolerance is a number (absolute) or ``{"abs": a, "rel": r}``: a number matches when
``|actual - expected| <= max(a, r * max(|actual|, |expected|))`` (``math.isclose``). Strings, booleans and nulls
must be equal (and of the same type); lists element by element, of the same length; the expected object's keys
must be in the response (extra keys are allowed).
"""

from __future__ import annotations

import math
from typing import Any

DEFAULT_ABS = 1e-6


def tolerance_of(value: Any, default_abs: float = DEFAULT_ABS) -> tuple[float, float]:
    """``(abs, rel)`` of a tolerance (a number, ``{"abs", "rel"}`` or None for the default); ValueError otherwise."""
    if value is None:
        return default_abs, 0.0
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"abs", "rel"})
        if unknown:
            raise ValueError(f'"tolerance" has unknown keys {unknown}; expected "abs" and/or "rel"')
        bounds = (value.get("abs", 0.0), value.get("rel", 0.0))
    else:
        bounds = (value, 0.0)
    for bound in bounds:
        if isinstance(bound, bool) or not isinstance(bound, int | float) or not math.isfinite(bound) or bound < 0:
            raise ValueError(f'"tolerance" must be a number >= 0 or {{"abs": .., "rel": ..}}, got {value!r}')
    return float(bounds[0]), float(bounds[1])


def split_expected(document: Any) -> tuple[dict[str, Any], float, float]:
    """``expected-response.json`` → (the response to expect, abs tolerance, rel tolerance)."""
    if not isinstance(document, dict) or "predictions" not in document:
        raise ValueError('expected-response.json must be an object with "predictions" (and "tolerance")')
    abs_tol, rel_tol = tolerance_of(document.get("tolerance"))
    return {"predictions": document["predictions"]}, abs_tol, rel_tol


def tolerance_text(abs_tol: float, rel_tol: float) -> str:
    return f"{abs_tol:g}" + (f" or {rel_tol:g} relative" if rel_tol else "")


def compare(expected: Any, actual: Any, abs_tol: float = DEFAULT_ABS, rel_tol: float = 0.0,
            path: str = "response") -> list[str]:
    """Differences between ``expected`` and ``actual`` (one line each, with its path); empty when they match."""
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        return [] if actual == expected and type(actual) is type(expected) else [
            f"{path}: expected {expected!r}, got {actual!r}"]
    if isinstance(expected, int | float):
        if isinstance(actual, bool) or not isinstance(actual, int | float) or not math.isfinite(actual):
            return [f"{path}: expected a number near {expected!r}, got {actual!r}"]
        if math.isclose(actual, expected, rel_tol=rel_tol, abs_tol=abs_tol):
            return []
        return [f"{path}: expected {expected!r} ± {tolerance_text(abs_tol, rel_tol)}, got {actual!r}"]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            size = len(actual) if isinstance(actual, list) else type(actual).__name__
            return [f"{path}: expected a list of {len(expected)}, got {size}"]
        problems: list[str] = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            problems += compare(e, a, abs_tol, rel_tol, f"{path}[{i}]")
        return problems
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {type(actual).__name__}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            else:
                problems += compare(value, actual[key], abs_tol, rel_tol, f"{path}.{key}")
        return problems
    return [f"{path}: cannot compare with expected value of type {type(expected).__name__}"]
