# pyright: strict
"""The part of the IoT Hub query language that target conditions and metric queries use, evaluated over twin
documents: paths (``tags.site``, ``properties.reported.factory.version``, ``deviceId``), strings in single
quotes, numbers, ``true``/``false``/``null``, ``= != <> < <= > >=``, ``AND``, ``OR``, ``NOT``, parentheses,
``IS_DEFINED(path)`` and ``path IN [value, ...]``. A comparison with a missing path is false, as in IoT Hub.
Anything else is a ``QueryError``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, cast

Doc = dict[str, Any]
Predicate = Callable[[Doc], bool]
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><=|>=|!=|<>|=|<|>)"
                    r"|(?P<paren>[()\[\],])|(?P<word>[A-Za-z_$][A-Za-z0-9_$.]*))")
_MISSING = object()


class QueryError(ValueError):
    """A condition or query this evaluator (and IoT Hub) would not accept."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise QueryError(f"condition {text!r}: cannot read from position {pos}: {text[pos:pos + 20]!r}")
        kind = cast(str, match.lastgroup)
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _path(doc: Doc, path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = cast(Doc, value)[part]
    return value


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is _MISSING or right is _MISSING:
        return False
    if op in ("=", "!=", "<>"):
        same = left == right and isinstance(left, bool) == isinstance(right, bool)
        return same if op == "=" else not same
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right))
    if not numbers and not (isinstance(left, str) and isinstance(right, str)):
        return False
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.tokens, self.i = text, _tokens(text), 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.i += 1
        return token

    def keyword(self, word: str) -> bool:
        kind, value = self.peek()
        if kind == "word" and value.upper() == word:
            self.i += 1
            return True
        return False

    def fail(self, expected: str) -> QueryError:
        return QueryError(f"condition {self.text!r}: expected {expected}, got {self.peek()[1] or 'the end'!r}")

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        if self.peek()[0] != "end":
            raise self.fail("AND, OR or the end")
        return predicate

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.keyword("OR"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda doc: any(p(doc) for p in parts))

    def conjunction(self) -> Predicate:
        parts = [self.negation()]
        while self.keyword("AND"):
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else (lambda doc: all(p(doc) for p in parts))

    def negation(self) -> Predicate:
        if self.keyword("NOT"):
            inner = self.negation()
            return lambda doc: not inner(doc)
        if self.peek() == ("paren", "("):
            self.take()
            inner = self.disjunction()
            if self.take() != ("paren", ")"):
                raise self.fail("')'")
            return inner
        if self.keyword("IS_DEFINED"):
            if self.take() != ("paren", "("):
                raise self.fail("'('")
            kind, path = self.take()
            if kind != "word" or self.take() != ("paren", ")"):
                raise self.fail("IS_DEFINED(path)")
            return lambda doc: _path(doc, path) is not _MISSING
        left = self.operand()
        if self.keyword("IN"):
            if self.take() != ("paren", "["):
                raise self.fail("'[' after IN")
            items = [self.operand()]
            while self.peek() == ("paren", ","):
                self.take()
                items.append(self.operand())
            if self.take() != ("paren", "]"):
                raise self.fail("']'")
            return lambda doc: any(_compare("=", left(doc), item(doc)) for item in items)
        kind, op = self.take()
        if kind != "op":
            raise self.fail("a comparison (= != < <= > >=)")
        right = self.operand()
        return lambda doc: _compare(op, left(doc), right(doc))

    def operand(self) -> Callable[[Doc], Any]:
        kind, value = self.take()
        if kind == "str":
            text = value[1:-1].replace("''", "'")
            return lambda doc: text
        if kind == "num":
            number = float(value) if "." in value else int(value)
            return lambda doc: number
        if kind == "word":
            constants = {"TRUE": True, "FALSE": False, "NULL": None}
            if value.upper() in constants:
                constant = constants[value.upper()]
                return lambda doc: constant
            return lambda doc: _path(doc, value)
        self.i -= 1
        raise self.fail("a path, a 'string' or a number")


@functools.lru_cache(maxsize=512)
def compile_condition(text: str) -> Predicate:
    """The predicate of a target condition (or a query's WHERE clause); ``*`` matches every twin."""
    return (lambda doc: True) if text.strip() == "*" else _Parser(text).parse()


def where_clause(query: str) -> tuple[str, str]:
    """``(collection, condition)`` of ``SELECT ... FROM <collection> [WHERE <condition>]``."""
    match = re.match(r"^\s*SELECT\s+.+?\s+FROM\s+(devices(?:\.modules)?)(?:\s+WHERE\s+(.+))?\s*$", query,
                     re.IGNORECASE | re.DOTALL)
    if not match:
        raise QueryError(f"query {query!r}: expected a select from devices or devices.modules")
    return match.group(1).lower(), match.group(2) or "*"
