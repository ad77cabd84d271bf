"""Rule 3's tables: the modules a submission may import and the names it may use from each.

The data a reviewer edits is ``STDLIB_ALLOWED`` (the modules), ``_EXPLICIT_NAMES``
(a reviewed list for each module that also holds dangerous helpers),
``_OPERATOR_EXCLUDED`` and ``_REFUSED_REASONS`` (why notable names stay out, for
the message). Every other module's names are read from the module itself
(``_stdlib_names``): its public names whose value is not a module and not a
metaclass. The pack's names (``engine``, ``nn``) are read from its files
(:mod:`.pack`). How to add a name safely: see :mod:`.allowlists`.
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Iterable

STDLIB_ALLOWED = frozenset(
    {
        "__future__",
        "abc",
        "bisect",
        "collections",
        "collections.abc",
        "copy",
        "dataclasses",
        "decimal",
        "enum",
        "fractions",
        "functools",
        "heapq",
        "itertools",
        "math",
        "numbers",
        "operator",
        "random",
        "statistics",
        "typing",
    }
)
PACK_MODULES = frozenset({"engine", "nn"})
ALLOWED_MODULES = STDLIB_ALLOWED | PACK_MODULES


# Rule 3: modules ----------------------------------------------------------------
# Explicit lists where a module also holds helpers that evaluate strings, read
# or write attributes by computed name, or build classes from data.
_EXPLICIT_NAMES: dict[str, tuple[str, ...]] = {
    "__future__": tuple(importlib.import_module("__future__").all_feature_names),
    "typing": (
        "AbstractSet",
        "Annotated",
        "Any",
        "AnyStr",
        "Callable",
        "ChainMap",
        "ClassVar",
        "Collection",
        "Concatenate",
        "Container",
        "Counter",
        "DefaultDict",
        "Deque",
        "Dict",
        "Final",
        "FrozenSet",
        "Generator",
        "Generic",
        "Hashable",
        "ItemsView",
        "Iterable",
        "Iterator",
        "KeysView",
        "List",
        "Literal",
        "LiteralString",
        "Mapping",
        "MappingView",
        "MutableMapping",
        "MutableSequence",
        "MutableSet",
        "NamedTuple",
        "Never",
        "NewType",
        "NoReturn",
        "NotRequired",
        "Optional",
        "OrderedDict",
        "ParamSpec",
        "Protocol",
        "Required",
        "Reversible",
        "Self",
        "Sequence",
        "Set",
        "Sized",
        "SupportsAbs",
        "SupportsComplex",
        "SupportsFloat",
        "SupportsIndex",
        "SupportsInt",
        "SupportsRound",
        "TYPE_CHECKING",
        "Text",
        "Tuple",
        "TypeAlias",
        "TypeGuard",
        "TypeVar",
        "TypeVarTuple",
        "Union",
        "Unpack",
        "ValuesView",
        "assert_never",
        "assert_type",
        "cast",
        "dataclass_transform",
        "final",
        "no_type_check",
        "overload",
        "override",
        "reveal_type",
        "runtime_checkable",
    ),
    "functools": (
        "cache",
        "cached_property",
        "cmp_to_key",
        "lru_cache",
        "partial",
        "partialmethod",
        "reduce",
        "total_ordering",
    ),
    "dataclasses": (
        "FrozenInstanceError",
        "InitVar",
        "KW_ONLY",
        "MISSING",
        "asdict",
        "astuple",
        "dataclass",
        "field",
        "is_dataclass",
        "replace",
    ),
    "collections": (
        "ChainMap",
        "Counter",
        "OrderedDict",
        "UserDict",
        "UserList",
        "UserString",
        "defaultdict",
        "deque",
        "namedtuple",
    ),
    "enum": ("Enum", "Flag", "IntEnum", "IntFlag", "StrEnum", "auto", "unique"),
    "abc": (
        "ABC",
        "abstractclassmethod",
        "abstractmethod",
        "abstractproperty",
        "abstractstaticmethod",
    ),
    "copy": ("Error", "copy", "deepcopy"),
    "numbers": ("Complex", "Integral", "Number", "Rational", "Real"),
    "fractions": ("Fraction",),
    "decimal": (
        "BasicContext",
        "Clamped",
        "Context",
        "Decimal",
        "DecimalException",
        "DecimalTuple",
        "DefaultContext",
        "DivisionByZero",
        "ExtendedContext",
        "FloatOperation",
        "Inexact",
        "InvalidOperation",
        "MAX_EMAX",
        "MAX_PREC",
        "MIN_EMIN",
        "MIN_ETINY",
        "Overflow",
        "ROUND_05UP",
        "ROUND_CEILING",
        "ROUND_DOWN",
        "ROUND_FLOOR",
        "ROUND_HALF_DOWN",
        "ROUND_HALF_EVEN",
        "ROUND_HALF_UP",
        "ROUND_UP",
        "Rounded",
        "Subnormal",
        "Underflow",
        "getcontext",
        "localcontext",
        "setcontext",
    ),
}
# Numeric and container helpers: every public name (``__all__`` where the
# module has one) whose value is not a module and not a metaclass.
_INTROSPECTED = ("math", "random", "itertools", "heapq", "bisect", "statistics", "collections.abc")
# operator: everything public but the two helpers that read attributes by name.
_OPERATOR_EXCLUDED = frozenset({"attrgetter", "methodcaller"})
# Why notable names are left out (for the message).
_REFUSED_REASONS = {
    "get_type_hints": "evaluates code written in strings",
    "ForwardRef": "evaluates code written in strings",
    "evaluate_forward_ref": "evaluates code written in strings",
    "get_args": "reaches the unevaluated strings of annotations",
    "get_origin": "reaches the metaclass type",
    "Type": "makes a metaclass when used as a base class",
    "TypedDict": "builds classes from data",
    "singledispatch": "evaluates annotations written as strings",
    "singledispatchmethod": "evaluates annotations written as strings",
    "update_wrapper": "copies attributes chosen by name",
    "wraps": "copies attributes chosen by name",
    "attrgetter": "reads attributes chosen by name",
    "methodcaller": "calls methods chosen by name",
    "make_dataclass": "builds classes from data",
    "fields": "exposes the field objects a dataclass turns into code",
    "ABCMeta": "is a metaclass; derive from abc.ABC instead",
    "EnumMeta": "is a metaclass",
    "EnumType": "is a metaclass",
    "global_enum": "writes into other modules' namespaces",
}


def _is_metaclass(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, type)


def _safe_module_value(value: object) -> bool:
    """Not a module, not a metaclass, not a generic alias of a metaclass (typing.Type)."""
    if isinstance(value, types.ModuleType) or _is_metaclass(value):
        return False
    try:
        origin = object.__getattribute__(value, "__origin__")
    except AttributeError:
        return True
    return not _is_metaclass(origin)


def _stdlib_names(module: str) -> frozenset[str]:
    mod = importlib.import_module(module)
    if module in _EXPLICIT_NAMES:
        candidates: Iterable[str] = _EXPLICIT_NAMES[module]
    elif module == "operator":
        candidates = [n for n in mod.__all__ if n not in _OPERATOR_EXCLUDED]
    else:
        candidates = getattr(mod, "__all__", [n for n in dir(mod) if not n.startswith("_")])
    return frozenset(
        n
        for n in candidates
        if not n.startswith("_") and hasattr(mod, n) and _safe_module_value(getattr(mod, n))
    )


STDLIB_NAMES: dict[str, frozenset[str]] = {m: _stdlib_names(m) for m in sorted(STDLIB_ALLOWED)}
# Classes of the enum module: only as a base class or an isinstance() argument.
ENUM_CLASSES = frozenset({"Enum", "Flag", "IntEnum", "IntFlag", "StrEnum"}) & STDLIB_NAMES["enum"]
