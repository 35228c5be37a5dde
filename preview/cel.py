"""A small evaluator of the CEL rules (`x-kubernetes-validations`) in the vendored CRD schemas.

The API server runs each rule on the defaulted object; JSON Schema cannot say "port needs portSpecification" or
"timeout at most 10 s", so without this the preview would pass objects the cluster refuses. This covers the
shapes the vendored schemas use (tests/test_cel.py parses every rule in preview/crd_schemas): literals,
`?:`, `||`, `&&`, comparisons, `in`, `+ - * / %`, field and index access, `has()`, the `all`, `exists`,
`exists_one`, `map` and `filter` macros, `size`, `dyn`, `duration`, and the string functions `startsWith`,
`endsWith`, `contains`, `matches`, `split`. A rule outside that subset fails to parse: loudly, never skipped.

Semantics follow the CEL spec where it matters for validation: reading an absent field is an error ("no such
key"), `||` and `&&` absorb an error when the other side decides, a rule that errors refuses the object (as the
API server does), and values of different types are never equal (`true != 1`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any


class CelError(Exception):
    """A rule that cannot be parsed, or an evaluation error (the API server refuses the object on either)."""


@dataclass(frozen=True)
class Duration:
    nanoseconds: int

    def __lt__(self, other: Duration) -> bool:
        return self.nanoseconds < other.nanoseconds


# --- tokens --------------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<string>[rR]?(?:'''(?:.|\n)*?'''|\"\"\"(?:.|\n)*?\"\"\"|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"))
    |(?P<number>\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|0x[0-9a-fA-F]+u?|\d+u?)
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op>==|!=|<=|>=|&&|\|\||[-+*/%<>!?:.,()\[\]{}])
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "`": "`", "?": "?", "a": "\a"}


def _string_literal(text: str) -> str:
    raw = text[0] in "rR"
    body = text[1:] if raw else text
    quote = 3 if body[:3] in ("'''", '"""') else 1
    body = body[quote:-quote]
    if raw:
        return body
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)


def _tokens(rule: str) -> list[tuple[str, Any]]:
    result: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(rule):
        if not rule[pos:].strip():
            break
        m = _TOKEN.match(rule, pos)
        if m is None or m.end() == pos:
            raise CelError(f"cannot read {rule[pos : pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup
        text = m.group(kind or "op")
        if kind == "string":
            result.append(("lit", _string_literal(text)))
        elif kind == "number":
            if not text.startswith("0x") and ("." in text or "e" in text.lower()):
                result.append(("lit", float(text)))
            else:
                result.append(("lit", int(text.rstrip("u"), 0)))
        elif kind == "name" and text in ("true", "false", "null"):
            result.append(("lit", {"true": True, "false": False, "null": None}[text]))
        else:
            result.append((kind or "op", text))
    result.append(("end", None))
    return result


# --- parser: the CEL grammar's precedence, one method per level ------------------------------------------------

Node = tuple[Any, ...]


class _Parser:
    def __init__(self, rule: str) -> None:
        self.tokens = _tokens(rule)
        self.pos = 0

    def peek(self, value: str) -> bool:
        kind, text = self.tokens[self.pos]
        return kind in ("op", "name") and text == value

    def take(self, value: str) -> bool:
        if self.peek(value):
            self.pos += 1
            return True
        return False

    def expect(self, value: str) -> None:
        if not self.take(value):
            raise CelError(f"expected {value!r} at token {self.pos}, found {self.tokens[self.pos][1]!r}")

    def parse(self) -> Node:
        node = self.expr()
        if self.tokens[self.pos][0] != "end":
            raise CelError(f"unexpected {self.tokens[self.pos][1]!r}")
        return node

    def expr(self) -> Node:
        node = self.binary(0)
        if self.take("?"):
            then = self.binary(0)
            self.expect(":")
            return ("cond", node, then, self.expr())
        return node

    _LEVELS = (("||",), ("&&",), ("==", "!=", "<", "<=", ">", ">=", "in"), ("+", "-"), ("*", "/", "%"))

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while (op := next((o for o in self._LEVELS[level] if self.peek(o)), None)) is not None:
            self.pos += 1
            node = ("op", op, node, self.binary(level + 1))
        return node

    def unary(self) -> Node:
        if self.take("!"):
            return ("not", self.unary())
        if self.take("-"):
            return ("neg", self.unary())
        return self.member()

    def member(self) -> Node:
        node = self.primary()
        while True:
            if self.take("."):
                kind, name = self.tokens[self.pos]
                if kind != "name":
                    raise CelError(f"expected a name after '.', found {name!r}")
                self.pos += 1
                node = ("call", name, node, self.args()) if self.peek("(") else ("field", node, name)
            elif self.take("["):
                index = self.expr()
                self.expect("]")
                node = ("index", node, index)
            else:
                return node

    def args(self) -> list[Node]:
        self.expect("(")
        found: list[Node] = []
        while not self.take(")"):
            if found:
                self.expect(",")
            found.append(self.expr())
        return found

    def primary(self) -> Node:
        kind, value = self.tokens[self.pos]
        self.pos += 1
        if kind == "lit":
            return ("lit", value)
        if kind == "name":
            return ("call", value, None, self.args()) if self.peek("(") else ("ident", value)
        if value == "(":
            node = self.expr()
            self.expect(")")
            return node
        if value == "[":
            items: list[Node] = []
            while not self.take("]"):
                if items:
                    self.expect(",")
                items.append(self.expr())
            return ("list", items)
        raise CelError(f"unexpected {value!r}")


@cache
def parse(rule: str) -> Node:
    return _Parser(rule).parse()


def identifiers(node: Any) -> set[str]:
    """The variables a rule reads (`self`, `oldSelf`, macro variables)."""
    if isinstance(node, tuple) and node and node[0] == "ident":
        return {node[1]}
    if isinstance(node, tuple | list):
        return set().union(*(identifiers(n) for n in node))
    return set()


# --- evaluation -----------------------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _equal(a: Any, b: Any) -> bool:
    if _kind(a) != _kind(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _ordered(op: str, a: Any, b: Any) -> bool:
    if _kind(a) != _kind(b) or _kind(a) not in ("number", "str", "Duration"):
        raise CelError(f"no such overload: {_kind(a)} {op} {_kind(b)}")
    less, same = bool(a < b), bool(a == b)
    return {"<": less, "<=": less or same, ">": not (less or same), ">=": not less}[op]


def _arith(op: str, a: Any, b: Any) -> Any:
    if op == "+" and _kind(a) == _kind(b) and _kind(a) in ("number", "str", "list"):
        return a + b
    if _kind(a) == _kind(b) == "number":
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if b == 0:
            raise CelError("division by zero")
        if isinstance(a, int) and isinstance(b, int):
            return int(a / b) if op == "/" else a - b * int(a / b)  # CEL truncates toward zero
        return a / b if op == "/" else a % b
    raise CelError(f"no such overload: {_kind(a)} {op} {_kind(b)}")


_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def duration(text: Any) -> Duration:
    """A Go duration string ("10ms", "1m30s"), as CEL's duration() reads it."""
    if not isinstance(text, str):
        raise CelError(f"duration() of a {_kind(text)}")
    sign, body = (-1, text[1:]) if text.startswith("-") else (1, text.removeprefix("+"))
    parts = _GO_DURATION.findall(body)
    if body == "0":
        return Duration(0)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise CelError(f"invalid duration {text!r}")
    return Duration(sign * round(sum(float(n) * _UNIT_NS[u] for n, u in parts)))


def _size(value: Any) -> int:
    if isinstance(value, str | list | dict):
        return len(value)
    raise CelError(f"size() of a {_kind(value)}")


def _string_method(name: str, target: Any, args: list[Any]) -> Any:
    if not isinstance(target, str) or not all(isinstance(a, str) for a in args):
        raise CelError(f"no such overload: {_kind(target)}.{name}")
    match name, args:
        case "startsWith", [prefix]:
            return target.startswith(prefix)
        case "endsWith", [suffix]:
            return target.endswith(suffix)
        case "contains", [part]:
            return part in target
        case "matches", [pattern]:
            return re.search(pattern, target) is not None  # RE2 semantics: a match anywhere unless anchored
        case "split", [separator]:
            return target.split(separator)
    raise CelError(f"unknown function {name}/{len(args)}")


_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})


class _Evaluator:
    def __init__(self, variables: dict[str, Any]) -> None:
        self.variables = variables

    def value(self, node: Node) -> Any:  # noqa: PLR0912 (one branch per node kind)
        match node:
            case ("lit", value):
                return value
            case ("ident", name):
                if name not in self.variables:
                    raise CelError(f"undeclared reference to {name!r}")
                return self.variables[name]
            case ("list", items):
                return [self.value(i) for i in items]
            case ("field", target, name):
                obj = self.value(target)
                if not isinstance(obj, dict):
                    raise CelError(f"no field {name!r} on a {_kind(obj)}")
                if name not in obj:
                    raise CelError(f"no such key: {name}")
                return obj[name]
            case ("index", target, index):
                return self.index(self.value(target), self.value(index))
            case ("not", operand):
                return not self.boolean(self.value(operand))
            case ("neg", operand):
                number = self.value(operand)
                if _kind(number) != "number":
                    raise CelError(f"no such overload: -{_kind(number)}")
                return -number
            case ("cond", test, then, otherwise):
                return self.value(then) if self.boolean(self.value(test)) else self.value(otherwise)
            case ("op", "||" | "&&" as op, left, right):
                return self.logical(op, left, right)
            case ("op", op, left, right):
                return self.operator(op, self.value(left), self.value(right))
            case ("call", name, target, args):
                return self.call(name, target, args)
        raise CelError(f"cannot evaluate {node[0]}")

    @staticmethod
    def boolean(value: Any) -> bool:
        if not isinstance(value, bool):
            raise CelError(f"expected a bool, found a {_kind(value)}")
        return value

    def logical(self, op: str, left: Node, right: Node) -> bool:
        """`||` is true when either side is, `&&` false when either side is, even if the other side errs."""
        decisive = op == "||"
        error: CelError | None = None
        for side in (left, right):
            try:
                if self.boolean(self.value(side)) is decisive:
                    return decisive
            except CelError as e:
                error = error or e
        if error is not None:
            raise error
        return not decisive

    @staticmethod
    def index(target: Any, key: Any) -> Any:
        if isinstance(target, list) and _kind(key) == "number" and int(key) == key:
            if not 0 <= int(key) < len(target):
                raise CelError(f"index {key} out of range")
            return target[int(key)]
        if isinstance(target, dict) and key in target:
            return target[key]
        raise CelError(f"no such key: {key}")

    @staticmethod
    def operator(op: str, a: Any, b: Any) -> Any:
        if op == "==":
            return _equal(a, b)
        if op == "!=":
            return not _equal(a, b)
        if op == "in":
            if isinstance(b, list):
                return any(_equal(a, x) for x in b)
            if isinstance(b, dict):
                return a in b
            raise CelError(f"no such overload: in {_kind(b)}")
        if op in ("<", "<=", ">", ">="):
            return _ordered(op, a, b)
        return _arith(op, a, b)

    def call(self, name: str, target: Node | None, args: list[Node]) -> Any:
        if target is None and name == "has":
            return self.has(args)
        if target is not None and name in _MACROS:
            return self.macro(name, self.value(target), args)
        values = [self.value(a) for a in args]
        if target is None:
            return self.function(name, values)
        receiver = self.value(target)
        if name == "size" and not values:
            return _size(receiver)
        return _string_method(name, receiver, values)

    def has(self, args: list[Node]) -> bool:
        match args:
            case [("field", target, name)]:
                obj = self.value(target)
                if not isinstance(obj, dict):
                    raise CelError(f"has() on a {_kind(obj)}")
                return name in obj
        raise CelError("has() takes one field selection")

    @staticmethod
    def function(name: str, values: list[Any]) -> Any:
        match name, values:
            case "size", [value]:
                return _size(value)
            case "dyn", [value]:
                return value
            case "duration", [value]:
                return duration(value)
        raise CelError(f"unknown function {name}/{len(values)}")

    def macro(self, name: str, collection: Any, args: list[Node]) -> Any:
        if not (len(args) == 2 and args[0][0] == "ident"):
            raise CelError(f"{name}() takes a variable and an expression")
        (_, variable), body = args
        if not isinstance(collection, list | dict):
            raise CelError(f"{name}() over a {_kind(collection)}")
        elements = list(collection)  # a map iterates its keys

        def each(element: Any) -> Any:
            return _Evaluator({**self.variables, variable: element}).value(body)

        if name == "map":
            return [each(e) for e in elements]
        if name == "filter":
            return [e for e in elements if self.boolean(each(e))]
        if name == "exists_one":
            return sum(self.boolean(each(e)) for e in elements) == 1
        return self.quantifier(name == "all", elements, each)

    def quantifier(self, every: bool, elements: list[Any], each: Callable[[Any], Any]) -> bool:
        """`all` is false as soon as one element is false (errors elsewhere do not matter); `exists` likewise."""
        error: CelError | None = None
        for element in elements:
            try:
                if self.boolean(each(element)) is not every:
                    return not every
            except CelError as e:
                error = error or e
        if error is not None:
            raise error
        return every


def evaluate(rule: str, self_value: Any) -> Any:
    """The value of `rule` with `self` bound; raises CelError on a parse or evaluation error."""
    return evaluate_with(rule, {"self": self_value})


def evaluate_with(rule: str, variables: dict[str, Any]) -> Any:
    """The value of `rule` over `variables` (e.g. a Service Extensions match condition's `request`)."""
    return _Evaluator(variables).value(parse(rule))
