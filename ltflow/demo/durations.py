"""The small vocabulary in which the demo case's data writes its times.

A duration expression::

    expr  := term (("+" | "-") term)*
    term  := atom ("/" WHOLE_NUMBER)*
    atom  := ISO_DURATION | NAME | "min(" expr "," expr ")"

``ISO_DURATION`` is an ISO-8601 duration of days, hours, minutes and seconds (``P2D``, ``PT1H``,
``P1DT12H``); ``NAME`` is looked up in the names given (the parameters of
:func:`ltflow.demo.narrative.steps` and the case's derived durations). Arithmetic is
:class:`~datetime.timedelta` arithmetic, so ``reflection / 2`` rounds to the microsecond exactly
as Python does.

A time expression is ``start + expr``: the case's start plus a duration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta

_ISO = re.compile(
    r"P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?"
)
_TOKEN = re.compile(
    r"\s*(?:(?P<iso>P[0-9DTHMS]*)|(?P<number>\d+)|(?P<name>[a-z_]\w*)|(?P<op>[-+/,()]))"
)
_TIME = re.compile(r"\s*start\s*\+(?P<offset>.+)", re.DOTALL)


class DurationError(ValueError):
    """An expression in the case's data that is not in the vocabulary."""


def evaluate(expr: str, names: Mapping[str, timedelta]) -> timedelta:
    """The duration ``expr`` denotes, with ``names`` for its names."""
    parser = _Parser(expr, names)
    value = parser.expr()
    if parser.peek() is not None:
        raise parser.error("an operator")
    return value


def time_at(expr: str, start: datetime, names: Mapping[str, timedelta]) -> datetime:
    """The time ``expr`` (``start + DURATION``) denotes."""
    match = _TIME.fullmatch(expr)
    if match is None:
        raise DurationError(f"a time is 'start + DURATION', not {expr!r}")
    return start + evaluate(match["offset"], names)


def iso_duration(text: str) -> timedelta:
    """An ISO-8601 duration of days, hours, minutes and seconds as a ``timedelta``."""
    match = _ISO.fullmatch(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise DurationError(f"not an ISO-8601 duration of days, hours, minutes, seconds: {text!r}")
    parts = {unit: int(value) for unit, value in match.groupdict().items() if value is not None}
    return timedelta(**parts)


def _tokenize(expr: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while expr[position:].strip():
        match = _TOKEN.match(expr, position)
        if match is None or match.lastgroup is None:
            raise DurationError(f"unexpected {expr[position:].strip()!r} in {expr!r}")
        tokens.append((match.lastgroup, match[match.lastgroup]))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over the tokens of one expression."""

    def __init__(self, expr: str, names: Mapping[str, timedelta]) -> None:
        self.expr_text = expr
        self.names = names
        self.tokens = _tokenize(expr)
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, kind: str, text: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (text is not None and token[1] != text):
            raise self.error(repr(text) if text is not None else f"a {kind}")
        self.position += 1
        return token[1]

    def error(self, wanted: str) -> DurationError:
        token = self.peek()
        found = "the end" if token is None else repr(token[1])
        return DurationError(f"expected {wanted}, found {found} in {self.expr_text!r}")

    def expr(self) -> timedelta:
        value = self.term()
        while (token := self.peek()) is not None and token[1] in ("+", "-"):
            self.position += 1
            value = value + self.term() if token[1] == "+" else value - self.term()
        return value

    def term(self) -> timedelta:
        value = self.atom()
        while self.peek() == ("op", "/"):
            self.position += 1
            divisor = int(self.take("number"))
            if divisor == 0:
                raise DurationError(f"division by zero in {self.expr_text!r}")
            value = value / divisor
        return value

    def atom(self) -> timedelta:
        token = self.peek()
        if token is not None and token[0] == "iso":
            self.position += 1
            return iso_duration(token[1])
        name = self.take("name")
        if name == "min":
            return self.minimum()
        if name not in self.names:
            raise DurationError(f"unknown name {name!r} in {self.expr_text!r}")
        return self.names[name]

    def minimum(self) -> timedelta:
        self.take("op", "(")
        first = self.expr()
        self.take("op", ",")
        second = self.expr()
        self.take("op", ")")
        return min(first, second)
