"""Constraints over a sweep's parameters (`"fast < slow"`, `"slow - fast >= 10 and config.stop_loss < 3"`).

An expression is parsed with `ast` and only a small arithmetic and comparison language is
accepted: numbers, parameter names (bare names and dotted paths such as `config.stop_loss` or
`entry_rules.conditions[0].params.period`), `+ - * / // %`, unary `-`/`not`, comparisons
(chains too), `and`/`or` and parentheses. Nothing is ever `eval`-ed: the tree is walked by
`_value` below, so a constraint can neither call nor import anything.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.errors import FieldError, ValidationFailed

MAX_EXPRESSION_LENGTH = 500
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


@dataclass(frozen=True)
class Constraints:
    """The parsed constraints of a sweep: `allows(params)` when every one holds."""

    expressions: tuple[str, ...]
    _trees: tuple[ast.expr, ...]

    def allows(self, params: Mapping[str, float]) -> bool:
        try:
            return all(bool(_value(tree, params)) for tree in self._trees)
        except ZeroDivisionError:  # "a / b > 1" with b = 0: the combination is not meant to run
            return False


def parse_constraints(expressions: Sequence[str], names: Sequence[str]) -> Constraints:
    """ValidationFailed naming `constraints[i]` for a syntax error, a construct outside the
    language above, or a name that is not one of the swept parameters `names`."""
    errors, trees = [], []
    for i, expression in enumerate(expressions):
        field = f"constraints[{i}]"
        if not isinstance(expression, str) or not expression.strip():
            errors.append(FieldError(field, "must be a non-empty expression"))
            continue
        if len(expression) > MAX_EXPRESSION_LENGTH:
            errors.append(FieldError(field, f"is longer than {MAX_EXPRESSION_LENGTH} characters"))
            continue
        try:
            tree = ast.parse(expression.strip(), mode="eval").body
            unknown = sorted(set(_names(tree)) - set(names))
        except SyntaxError as error:
            errors.append(FieldError(field, f"is not an expression: {error.msg}"))
            continue
        except _Refused as error:
            errors.append(FieldError(field, str(error)))
            continue
        if unknown:
            errors.append(
                FieldError(
                    field, f"names {', '.join(unknown)}, which the sweep does not vary; parameters: {', '.join(names)}"
                )
            )
            continue
        trees.append(tree)
    if errors:
        raise ValidationFailed("invalid constraints", errors)
    return Constraints(tuple(expressions), tuple(trees))


class _Refused(Exception):
    """A construct outside the constraint language."""


def _names(node: ast.expr) -> list[str]:
    """The parameter names an expression reads (and a check of every node it has)."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise _Refused(f"only numbers may appear as constants, not {node.value!r}")
        return []
    if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)):
        return [_path(node)]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _names(node.left) + _names(node.right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
        return _names(node.operand)
    if isinstance(node, ast.BoolOp):
        return [name for value in node.values for name in _names(value)]
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        return _names(node.left) + [name for value in node.comparators for name in _names(value)]
    raise _Refused(
        f"uses {type(node).__name__}: only numbers, parameters, arithmetic, comparisons, and/or/not are allowed"
    )


def _path(node: ast.expr) -> str:
    """`config.stop_loss` -> "config.stop_loss"; `rules.conditions[0].period` likewise."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_path(node.value)}.{node.attr}"
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and type(node.slice.value) is int:
        return f"{_path(node.value)}[{node.slice.value}]"
    raise _Refused("a parameter is a name or a dotted path with integer indices")


def _value(node: ast.expr, params: Mapping[str, float]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)):
        return params[_path(node)]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_value(node.left, params), _value(node.right, params))
    if isinstance(node, ast.UnaryOp):
        operand = _value(node.operand, params)
        return not operand if isinstance(node.op, ast.Not) else -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BoolOp):
        values = (_value(value, params) for value in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    assert isinstance(node, ast.Compare)  # _names admitted nothing else
    left = _value(node.left, params)
    for op, comparator in zip(node.ops, node.comparators):
        right = _value(comparator, params)
        if not _COMPARE[type(op)](left, right):
            return False
        left = right
    return True
