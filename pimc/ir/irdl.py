"""Declarative op definitions, in the spirit of xDSL's IRDL.

    @irdl_op("nn.relu")
    class ReluOp(Operation):
        '''%y = nn.relu(%x) : (tensor<1x8xf32>) -> tensor<1x8xf32>'''
        input = operand(FLOAT_TENSOR)
        output = result(FLOAT_TENSOR)
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pimc.ir.attributes import SymbolRef, format_attr
from pimc.ir.core import Operation, Value
from pimc.ir.location import Location, UnknownLoc
from pimc.ir.types import ScalarType, TensorType, Type


class VerifyError(Exception):
    """An op breaks a rule of the IR; the verifier adds the op."""


# ----------------------------------------------------------------------------- constraints


@dataclass(frozen=True)
class TypeConstraint:
    """A predicate on types with a name for messages, e.g. 'tensor of float'."""

    description: str
    check: Callable[[Type], bool]


def tensor_of(description: str, element: Callable[[ScalarType], bool]) -> TypeConstraint:
    return TypeConstraint(f"tensor of {description}", lambda t: isinstance(t, TensorType) and element(t.element))


ANY_TYPE = TypeConstraint("any type", lambda t: True)
ANY_TENSOR = tensor_of("any element type", lambda e: True)
FLOAT_TENSOR = tensor_of("float", lambda e: e.is_float)
INT_TENSOR = tensor_of("integer", lambda e: e.is_integer)


@dataclass(frozen=True)
class AttrKind:
    """What values an attribute takes, e.g. 'list of integers'."""

    description: str
    check: Callable[[Any], bool]
    coerce: Callable[[Any], Any] = lambda v: v


def _is_int(v: object) -> bool:
    return type(v) is int or (isinstance(v, int) and not isinstance(v, bool))


def _is_float(v: object) -> bool:
    return isinstance(v, float)


def _to_float(v: object) -> object:
    return float(v) if _is_int(v) else v


def _to_floats(v: object) -> object:
    return tuple(float(x) if _is_int(x) else x for x in v) if isinstance(v, (tuple, list)) else v


def _tuple_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, tuple) and all(map(check, v))


INT = AttrKind("integer", _is_int)
FLOAT = AttrKind("float", _is_float, _to_float)
BOOL = AttrKind("boolean", lambda v: isinstance(v, bool))
STR = AttrKind("string", lambda v: isinstance(v, str))
WEIGHT_REF = AttrKind("string", lambda v: isinstance(v, str))  # names an array of the module's weight store
TYPE = AttrKind("type", lambda v: isinstance(v, (ScalarType, TensorType)))
SYMBOL = AttrKind("symbol reference", lambda v: isinstance(v, SymbolRef))
INTS = AttrKind("list of integers", _tuple_of(_is_int), lambda v: tuple(v) if isinstance(v, list) else v)
FLOATS = AttrKind("list of floats", _tuple_of(_is_float), _to_floats)
STRS = AttrKind("list of strings", _tuple_of(lambda x: isinstance(x, str)), lambda v: tuple(v) if isinstance(v, list) else v)
TYPES = AttrKind("list of types", _tuple_of(lambda x: isinstance(x, (ScalarType, TensorType))))
ANY_ATTR = AttrKind("attribute", lambda v: True)


def one_of(*choices: str) -> AttrKind:
    """A string enum: `one_of("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")`."""
    return AttrKind("one of " + ", ".join(f'"{c}"' for c in choices), lambda v: v in choices)


def int_in(low: int, high: int) -> AttrKind:
    """An integer in [low, high]."""
    return AttrKind(f"integer in [{low}, {high}]", lambda v: _is_int(v) and low <= v <= high)


# ----------------------------------------------------------------------------- definitions

REQUIRED = object()


@dataclass(frozen=True)
class OperandDef:
    constraint: TypeConstraint = ANY_TYPE
    arity: str = "single"  # "single", "optional" (trailing) or "variadic"


@dataclass(frozen=True)
class ResultDef:
    constraint: TypeConstraint = ANY_TYPE
    arity: str = "single"


@dataclass(frozen=True)
class AttrDef:
    kind: AttrKind
    default: Any = REQUIRED
    doc: str = ""


def operand(constraint: TypeConstraint = ANY_TYPE) -> Any:
    return OperandDef(constraint)


def optional_operand(constraint: TypeConstraint = ANY_TYPE) -> Any:
    return OperandDef(constraint, "optional")


def variadic_operand(constraint: TypeConstraint = ANY_TYPE) -> Any:
    return OperandDef(constraint, "variadic")


def result(constraint: TypeConstraint = ANY_TYPE) -> Any:
    return ResultDef(constraint)


def variadic_result(constraint: TypeConstraint = ANY_TYPE) -> Any:
    return ResultDef(constraint, "variadic")


def attr(kind: AttrKind, default: Any = REQUIRED, doc: str = "") -> Any:
    """An attribute; `default=None` makes it optional with no value."""
    return AttrDef(kind, default, doc)


class Groups:
    """An op class's operand (or result) groups, and which of `count` values each group takes."""

    def __init__(self, defs: tuple[tuple[str, OperandDef | ResultDef], ...]) -> None:
        self.defs = defs
        arities = [d.arity for _, d in defs]
        self.fixed = arities.count("single")
        self.most = self.fixed + arities.count("optional")
        self.flexible = "variadic" in arities
        self._slices: dict[int, tuple[slice, ...]] = {}

    def slices(self, count: int) -> tuple[slice, ...]:
        """One slice per group: a variadic group takes the spare values, optional groups one each, in order."""
        known = self._slices.get(count)
        if known is None:
            known = self._slices[count] = self._layout(count)
        return known

    def _layout(self, count: int) -> tuple[slice, ...]:
        spare, start, slices = count - self.fixed, 0, []
        for _, definition in self.defs:
            width = 1
            if definition.arity == "variadic":
                width = max(spare, 0)
            elif definition.arity == "optional":
                width, spare = (1, spare - 1) if spare > 0 else (0, spare)
            slices.append(slice(start, start + width))
            start += width
        return tuple(slices)


@dataclass(frozen=True)
class OpDef:
    """Everything an op class declares, in declaration order."""

    operands: tuple[tuple[str, OperandDef], ...] = ()
    results: tuple[tuple[str, ResultDef], ...] = ()
    attributes: dict[str, AttrDef] = field(default_factory=dict)
    num_regions: int = 0
    open_attributes: bool = False
    operand_groups: Groups = field(init=False, repr=False, compare=False)
    result_groups: Groups = field(init=False, repr=False, compare=False)
    required: tuple[str, ...] = field(init=False, repr=False, compare=False)  # attributes without a default

    def __post_init__(self) -> None:
        object.__setattr__(self, "operand_groups", Groups(self.operands))
        object.__setattr__(self, "result_groups", Groups(self.results))
        object.__setattr__(self, "required", tuple(k for k, d in self.attributes.items() if d.default is REQUIRED))


def _group(groups: Groups, index: int, on_results: bool) -> property:
    """Reads one operand or result group: its value (None if absent), or a tuple of values if it is variadic."""
    arities = [d.arity for _, d in groups.defs[: index + 1]]
    if "variadic" not in arities:  # at a fixed index
        if on_results:
            return property(lambda op: op.results[index] if index < len(op.results) else None)
        return property(lambda op: op.operands[index] if index < len(op.operands) else None)

    def read(op: Operation) -> Any:
        values = op.results if on_results else op.operands
        chosen = values[groups.slices(len(values))[index]]
        if arities[-1] == "variadic":
            return chosen
        return chosen[0] if chosen else None

    return property(read)


def _attribute(name: str, default: Any) -> property:
    """Reads an attribute, falling back to its declared default (None for a required one)."""
    default = None if default is REQUIRED else default
    return property(lambda op: op.attributes.get(name, default))


def irdl_op(
    name: str, *, pure: bool = True, terminator: bool = False, regions: int = 0, open_attributes: bool = False
) -> Callable[[type], type]:
    """Turn a class of declarations into an op class; `open_attributes` admits undeclared ones."""

    def wrap(cls: type) -> type:
        declared = vars(cls).items()
        operands = tuple((k, v) for k, v in declared if isinstance(v, OperandDef))
        results = tuple((k, v) for k, v in declared if isinstance(v, ResultDef))
        attributes = {k: v for k, v in declared if isinstance(v, AttrDef)}
        _check_groups(name, operands)
        _check_groups(name, results)
        definition = OpDef(operands, results, attributes, regions, open_attributes)
        for groups, on_results in ((definition.operand_groups, False), (definition.result_groups, True)):
            for index, (key, _) in enumerate(groups.defs):
                setattr(cls, key, _group(groups, index, on_results))
        for key, value in attributes.items():
            setattr(cls, key, _attribute(key, value.default))
        cls.name = name
        cls.pure = pure
        cls.is_terminator = terminator
        cls.definition = definition
        return cls

    return wrap


def _check_groups(name: str, defs: tuple[tuple[str, Any], ...]) -> None:
    arities = [d.arity for _, d in defs]
    if arities.count("variadic") > 1 or ("variadic" in arities and "optional" in arities):
        raise TypeError(f"{name}: at most one variadic group, and not with optional ones")
    if "optional" in arities and arities[arities.index("optional") :].count("single"):
        raise TypeError(f"{name}: optional operands must come last")


class DeclaredOp(Operation):
    """Base of ops declared with `irdl_op`; `build` takes attributes by keyword."""

    definition: ClassVar[OpDef] = OpDef()

    @classmethod
    def build(cls, operands: list[Value], result_types: list[Type], location: Location = UnknownLoc(), **attributes: Any) -> Any:
        """`ReluOp.build([x], [x.type], strides=[1, 1])`; values are coerced to their kind, None means unset."""
        defs = cls.definition.attributes
        values = {k: defs[k].kind.coerce(v) if k in defs else v for k, v in attributes.items() if v is not None}
        return cls(operands, result_types, values, location=location)

    def verify_(self) -> None:
        """Checks that the declarations cannot express; raise VerifyError."""


def verify_declaration(op: DeclaredOp) -> None:
    """Check `op` against its class's declarations, then run its `verify_` hook."""
    definition = type(op).definition
    _verify_groups(definition.operand_groups, op.operands, "operand")
    _verify_groups(definition.result_groups, op.results, "result")
    attributes = definition.attributes
    for key, value in op.attributes.items():
        declared = attributes.get(key)
        if declared is None and definition.open_attributes:
            continue
        if declared is None:
            hint = difflib.get_close_matches(key, list(attributes), n=1)
            suffix = f"; did you mean '{hint[0]}'?" if hint else ""
            raise VerifyError(f"has unknown attribute '{key}'{suffix}")
        if not declared.kind.check(value):
            raise VerifyError(f"attribute '{key}' must be {declared.kind.description}, but got {format_attr(value)}")
    for key in definition.required:
        if key not in op.attributes:
            raise VerifyError(f"requires attribute '{key}' ({attributes[key].kind.description})")
    if len(op.regions) != definition.num_regions:
        raise VerifyError(f"expects {definition.num_regions} regions, but has {len(op.regions)}")
    op.verify_()


def _verify_groups(groups: Groups, values: tuple[Value, ...], what: str) -> None:
    fixed, most, flexible = groups.fixed, groups.most, groups.flexible
    if len(values) < fixed or (not flexible and len(values) > most):
        expected = f"{fixed}" if most == fixed and not flexible else f"at least {fixed}" if flexible else f"{fixed} to {most}"
        raise VerifyError(f"expects {expected} {what}s, but has {len(values)}")
    for (name, definition), index in zip(groups.defs, groups.slices(len(values))):
        check = definition.constraint.check
        for position, value in enumerate(values[index], start=index.start):
            if not check(value.type):
                raise VerifyError(
                    f"{what} #{position} ('{name}') must be {definition.constraint.description}, but got {value.type}"
                )
