"""The two small expression languages a local run must evaluate exactly as Argo does.

``when`` is govaluate after substitution, with one twist Argo adds: every bare word is a *string*, so
``heads == heads`` and ``{{workflow.status}} != Succeeded`` need no quotes. ``depends`` is a boolean formula over
``task.Result`` operands; a bare ``task`` means ``task.Succeeded || task.Skipped || task.Daemoned`` (widened by the
task's ``continueOn``). Both are parsed by one recursive-descent parser so precedence (``!`` > comparisons > ``&&``
> ``||``) is the same in both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from hera_build.errors import RunError

TASK_RESULTS = ("Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed")
"""The results a ``depends`` operand can name (Argo's enhanced depends logic)."""

Value = str | float | bool

_TOKEN_RE = re.compile(
    r"""\s*(?:
      (?P<op>&&|\|\||==|!=|>=|<=|=~|!~|[()!<>])
    | '(?P<sq>[^']*)' | "(?P<dq>[^"]*)"
    | (?P<word>[^\s()!<>=&|'"~]+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # "op" | "str" | "word" | "end"
    text: str


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = _TOKEN_RE.match(stripped, position)
        if match is None or match.end() == position:
            raise RunError(
                f"cannot parse expression {text!r} at {stripped[position : position + 20]!r}",
                "quote values that contain operators, e.g. '{{steps.a.outputs.result}}' == 'a b'",
            )
        if match["op"] is not None:
            tokens.append(_Token("op", match["op"]))
        elif match["sq"] is not None or match["dq"] is not None:
            tokens.append(_Token("str", match["sq"] if match["sq"] is not None else match["dq"]))
        else:
            tokens.append(_Token("word", match["word"]))
        position = match.end()
    tokens.append(_Token("end", ""))
    return tokens


class _Parser:
    """``or := and ('||' and)*; and := unary ('&&' unary)*; unary := '!' unary | cmp; cmp := atom (op atom)?``."""

    def __init__(self, text: str, atom: Callable[[_Token], Value]) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.atom = atom

    def _peek(self) -> _Token:
        return self.tokens[self.index]

    def _next(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _error(self, problem: str) -> RunError:
        return RunError(f"cannot evaluate expression {self.text!r}: {problem}", "check the expression's syntax")

    def parse(self) -> Value:
        value = self._or()
        if self._peek().kind != "end":
            raise self._error(f"unexpected {self._peek().text!r}")
        return value

    def _or(self) -> Value:
        value = self._and()
        while self._peek() == _Token("op", "||"):
            self._next()
            right = self._and()
            value = _truth(value, self) or _truth(right, self)
        return value

    def _and(self) -> Value:
        value = self._unary()
        while self._peek() == _Token("op", "&&"):
            self._next()
            right = self._unary()
            value = _truth(value, self) and _truth(right, self)
        return value

    def _unary(self) -> Value:
        if self._peek() == _Token("op", "!"):
            self._next()
            return not _truth(self._unary(), self)
        return self._comparison()

    def _comparison(self) -> Value:
        left = self._primary()
        token = self._peek()
        if token.kind == "op" and token.text in ("==", "!=", ">", "<", ">=", "<=", "=~", "!~"):
            self._next()
            return _compare(token.text, left, self._primary(), self)
        return left

    def _primary(self) -> Value:
        token = self._next()
        if token == _Token("op", "("):
            value = self._or()
            if self._next() != _Token("op", ")"):
                raise self._error("missing ')'")
            return value
        if token.kind in ("str", "word"):
            return self.atom(token)
        raise self._error(f"unexpected {token.text or 'end of expression'!r}")


def _truth(value: Value, parser: _Parser) -> bool:
    if isinstance(value, bool):
        return value
    raise parser._error(f"{value!r} is not a boolean")


def _compare(op: str, left: Value, right: Value, parser: _Parser) -> bool:
    if op in ("=~", "!~"):
        try:
            found = re.search(str(right), str(left)) is not None
        except re.error as exc:
            raise parser._error(f"invalid regular expression {right!r}: {exc}") from None
        return found if op == "=~" else not found
    if op == "==":
        return type(left) is type(right) and left == right
    if op == "!=":
        return not (type(left) is type(right) and left == right)
    if isinstance(left, bool) or isinstance(right, bool) or type(left) is not type(right):
        raise parser._error(f"cannot compare {left!r} {op} {right!r}")
    if isinstance(left, float) and isinstance(right, float):
        return {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[op]
    assert isinstance(left, str) and isinstance(right, str)
    return {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[op]


def _when_atom(token: _Token) -> Value:
    if token.kind == "str":
        return token.text
    if token.text in ("true", "false"):
        return token.text == "true"
    try:
        return float(token.text)
    except ValueError:
        return token.text  # Argo turns govaluate variables into strings


def evaluate_when(text: str) -> bool:
    """Evaluate an already substituted ``when`` expression; an empty one is true."""
    if not text.strip():
        return True
    parser = _Parser(text, _when_atom)
    result = parser.parse()
    if not isinstance(result, bool):
        raise RunError(f"when expression {text!r} evaluates to {result!r}, not a boolean", "compare with == or !=")
    return result


_OPERAND_RE = re.compile(r"^(?P<task>[A-Za-z0-9][-A-Za-z0-9_]*)(?:\.(?P<result>[A-Za-z]+))?$")


def _operand(token: _Token, text: str) -> tuple[str, str | None]:
    match = _OPERAND_RE.match(token.text) if token.kind == "word" else None
    if match is None:
        raise RunError(f"depends {text!r}: {token.text!r} is not a task operand", "write task or task.Succeeded")
    result = match["result"]
    if result is not None and result not in TASK_RESULTS:
        raise RunError(f"depends {text!r}: unknown task result {result!r}", f"use one of {', '.join(TASK_RESULTS)}")
    return str(match["task"]), result


def depends_operands(text: str) -> list[str]:
    """The task names a ``depends`` expression mentions, in order, once each."""
    names: list[str] = []

    def atom(token: _Token) -> Value:
        task, _ = _operand(token, text)
        if task not in names:
            names.append(task)
        return True

    _Parser(text, atom).parse()
    return names


def evaluate_depends(
    text: str, results: Mapping[str, Mapping[str, bool]], continue_on: Mapping[str, Mapping[str, bool]]
) -> bool:
    """Evaluate ``depends`` given each dependency's results (``{"Succeeded": True, …}``).

    ``continue_on`` holds each task's ``continueOn`` (``failed``/``error``), which widens a bare operand.
    """

    def atom(token: _Token) -> Value:
        task, result = _operand(token, text)
        flags = results.get(task)
        if flags is None:
            raise RunError(f"depends {text!r} names {task!r}, which is not a task of this DAG", "fix the task name")
        if result is not None:
            return bool(flags.get(result, False))
        accepted = ["Succeeded", "Skipped", "Daemoned"]
        options = continue_on.get(task, {})
        if options.get("failed"):
            accepted.append("Failed")
        if options.get("error"):
            accepted.append("Errored")
        return any(flags.get(name, False) for name in accepted)

    parser = _Parser(text, atom)
    return _truth(parser.parse(), parser)


def dependencies_logic(dependencies: list[str]) -> str:
    """``dependencies: [A, B]`` is ``depends: "A && B"`` (Argo's own conversion)."""
    return " && ".join(dependencies)
