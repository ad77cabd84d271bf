"""Static checks on a submission's source, before any of it runs.

In the process backend (Gradescope) this policy is the only barrier between a
submission and the grader's machine, so it is an allowlist: every construct,
builtin, module attribute and attribute name a submission uses must be one
known to be harmless; anything else is refused with its line. A new Python
syntax, builtin or library helper stays refused until it is reviewed here.

The promise: code that passes computes with numbers, strings, containers, its
own classes and the allowed modules' public API, and never obtains a module
object, a frame, a traceback, a code object, a function's globals or closure,
the builtins namespace, the metaclass ``type`` (which builds a class from any
namespace), an attribute chosen by a string at run time, or a string that
something evaluates. Each rule keeps one of those out of reach:

1. Syntax: an explicit allowlist of AST node types (no async/await, except*,
   ``type X = ...``). No ``metaclass=`` or ``**kw`` in a class, no import in a
   class body (it would store a module as an attribute).
2. Builtins: a builtin name must be in ``ALLOWED_BUILTINS``; any other (eval,
   open, vars, __import__...) is refused wherever it appears, even as a
   variable. ``getattr``/``setattr`` only as direct calls with a literal name
   that passes rule 4; ``hasattr`` with any name (it only returns a bool).
   ``type`` takes one argument, and ``type(x)``/``x.__class__`` are only read
   (``.__name__``), tested with ``is``, compared with ``==``/``in`` against
   other types and builtin classes, passed to isinstance/issubclass or turned
   into text: anything else could hand a metaclass to the student (``==``
   calls the other operand's ``__eq__``). The builtins the checks rely on may
   not be rebound.
3. Modules: only ``ALLOWED_MODULES``, no star or relative import. A name bound
   to a module is only the base of an attribute access, so no module flows into
   a variable; imported names are never rebound; imported modules and classes
   are never assigned to or deleted from. ``mod.attr`` must be in the module's
   allowlist (``module_names``): every name exists at run time (a failed lookup
   would raise an AttributeError holding the module), none is a module or a
   metaclass, and helpers that evaluate strings, access attributes by name or
   build classes from data are left out.
4. Attributes: dunders only from ``ALLOWED_DUNDER_ATTRS`` (plus rule 2's
   ``__class__``; ``__dict__`` only printed, in an f-string, measured or listed
   at once). No attribute names of frames, code objects, tracebacks,
   generators and cells (introspected) nor ``obj``. A private name (``_x``)
   only if the file or the pack defines it and it is not an internal name of
   the standard library (introspected), so ``Enum._convert_`` or
   ``ForwardRef._evaluate`` stay out of reach. ``.format``/``.format_map``
   only called on a literal whose fields read no attribute or item. The same
   for ``case C(name=...)``; positional sub-patterns (which read the names in
   ``__match_args__``) only for builtins such as ``int(x)``.
5. Dunder names: only ``__name__``, ``__doc__``, ``__file__``, ``__debug__``
   are read; module metadata (``__all__``...) is bound at module level and
   special methods, ``__slots__``, ``__match_args__``, ``__hash__`` in a class
   body. Not definable: the copy/pickle protocol (copy turns its result into
   calls and attribute writes by name), hooks that see a class being built
   (``__init_subclass__``, ``__set_name__``, descriptors' ``__get__``), and
   hooks that fake isinstance (``__subclasshook__``...).
6. Evaluated strings: a string annotation must parse as an expression passing
   these same checks. ``dataclass`` writes field names into code it executes,
   so it is only a class decorator, the innermost one, not on an Enum or
   NamedTuple, and ``field()`` is only the value of a field in its body, never
   read there: its Field objects cannot be renamed. An Enum class must define
   a member: the functional ``Enum("Name", ...)`` API takes member and dunder
   names as data.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import enum
import functools
import importlib
import string
import threading
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import paths
from .limits import MAX_SOURCE_BYTES

if TYPE_CHECKING:
    from .models import ErrorInfo, ErrorKind

MAX_LISTED = 5

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
# The pack checked against when no pack_dir is given: where paths finds it (a checkout, a
# wheel's grader/_data/, the image); the judge always passes its own (JudgeConfig.pack_dir).
DEFAULT_PACK_DIR = paths.TEMPLATE_DIR


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _is_private(name: str) -> bool:
    return name.startswith("_") and not _is_dunder(name)


# Rule 1: syntax -----------------------------------------------------------------
# Every node type here only computes with values the program already holds or
# binds names; none loads code, switches scheduling (async) or defines types
# lazily (PEP 695). Operators, comparison and boolean operators, and expression
# contexts are whole families: they only call special methods of the operands.
_NODE_NAMES = (
    "Module",
    # statements
    "FunctionDef",
    "ClassDef",
    "Return",
    "Delete",
    "Assign",
    "AugAssign",
    "AnnAssign",
    "For",
    "While",
    "If",
    "With",
    "Match",
    "Raise",
    "Try",
    "Assert",
    "Import",
    "ImportFrom",
    "Global",
    "Nonlocal",
    "Expr",
    "Pass",
    "Break",
    "Continue",
    # expressions
    "BoolOp",
    "NamedExpr",
    "BinOp",
    "UnaryOp",
    "Lambda",
    "IfExp",
    "Dict",
    "Set",
    "ListComp",
    "SetComp",
    "DictComp",
    "GeneratorExp",
    "Yield",
    "YieldFrom",
    "Compare",
    "Call",
    "FormattedValue",
    "JoinedStr",
    "Constant",
    "Attribute",
    "Subscript",
    "Starred",
    "Name",
    "List",
    "Tuple",
    "Slice",
    # match patterns
    "match_case",
    "MatchValue",
    "MatchSingleton",
    "MatchSequence",
    "MatchMapping",
    "MatchClass",
    "MatchStar",
    "MatchAs",
    "MatchOr",
    # parts
    "arguments",
    "arg",
    "keyword",
    "alias",
    "withitem",
    "comprehension",
    "ExceptHandler",
)
_OPERATOR_FAMILIES = (ast.operator, ast.unaryop, ast.cmpop, ast.boolop, ast.expr_context)
ALLOWED_NODES: frozenset[type[ast.AST]] = frozenset(
    {getattr(ast, name) for name in _NODE_NAMES if hasattr(ast, name)}
    | {cls for family in _OPERATOR_FAMILIES for cls in family.__subclasses__()}
)
_NODE_LABELS = {
    "AsyncFunctionDef": "`async def`",
    "Await": "`await`",
    "AsyncFor": "`async for`",
    "AsyncWith": "`async with`",
    "TryStar": "`except*`",
    "TypeAlias": "the `type X = ...` statement",
    "TypeVar": "type parameters (`def f[T]`)",
    "ParamSpec": "type parameters (`def f[**P]`)",
    "TypeVarTuple": "type parameters (`def f[*Ts]`)",
}


# Rule 2: builtins ---------------------------------------------------------------
# Site adds exit, quit, help, copyright, credits and license: builtins even where
# site did not run. "_" is a builtin only in the interactive interpreter.
_SITE_NAMES = frozenset({"exit", "quit", "help", "copyright", "credits", "license"})
BUILTIN_NAMES = (frozenset(dir(builtins)) | _SITE_NAMES) - {"_"}
_EXCEPTIONS = frozenset(
    name
    for name in dir(builtins)
    if isinstance(getattr(builtins, name), type)
    and issubclass(getattr(builtins, name), BaseException)
)
# Pure functions and value types: they compute with their arguments and return
# numbers, strings, containers or iterators over what they were given.
# Exception classes are plain classes (their traceback is a dunder, refused).
ALLOWED_BUILTINS = (
    frozenset(
        {
            "Ellipsis",
            "NotImplemented",
            "abs",
            "all",
            "any",
            "ascii",
            "bin",
            "bool",
            "bytearray",
            "bytes",
            "callable",
            "chr",
            "classmethod",
            "complex",
            "dict",
            "dir",  # a list of names: with getattr literal-only, names reach nothing
            "divmod",
            "enumerate",
            "filter",
            "float",
            "format",
            "frozenset",
            "hasattr",  # any name: it only ever returns a bool
            "hash",
            "hex",
            "id",
            "input",  # stdin is /dev/null: it can only raise EOFError; a common parameter name
            "int",
            "isinstance",
            "issubclass",
            "iter",
            "len",
            "list",
            "map",
            "max",
            "min",
            "next",
            "object",
            "oct",
            "ord",
            "pow",
            "print",
            "property",
            "range",
            "repr",
            "reversed",
            "round",
            "set",
            "slice",
            "sorted",
            "staticmethod",
            "str",
            "sum",
            "super",
            "tuple",
            "type",  # one argument, see _type_query_problem
            "zip",
        }
    )
    | _EXCEPTIONS
) & BUILTIN_NAMES
LITERAL_ATTR_CALLS = frozenset({"getattr", "setattr"})
# Builtins these checks give a meaning to: rebinding them would fool the checks.
TRUSTED_BUILTINS = frozenset(
    {
        "type",
        "getattr",
        "setattr",
        "hasattr",
        "isinstance",
        "issubclass",
        "repr",
        "str",
        "print",
        "len",
        "sorted",
        "list",
        "tuple",
        "set",
        "bool",
        "bytearray",
        "bytes",
        "dict",
        "float",
        "frozenset",
        "int",
        "super",
        "object",
    }
)
# Classes that match a single positional sub-pattern against the subject itself.
SELF_MATCHING = frozenset(
    {
        "bool",
        "bytearray",
        "bytes",
        "dict",
        "float",
        "frozenset",
        "int",
        "list",
        "set",
        "str",
        "tuple",
    }
)
_BUILTIN_HINTS = {
    "eval": "write the code itself instead",
    "exec": "write the code itself instead",
    "compile": "write the code itself instead",
    "open": "submissions cannot read or write files",
    "getattr": 'use obj.name or getattr(obj, "name", default)',
    "setattr": 'use obj.name = value or setattr(obj, "name", value)',
    "delattr": "use del obj.name",
    "vars": "read attributes by name",
    "globals": "use the names directly",
    "locals": "use the names directly",
    "breakpoint": "remove the debugging call",
    "exit": "return or raise an exception instead",
    "quit": "return or raise an exception instead",
}


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


# Rule 4: attributes -------------------------------------------------------------
# Dunders that only call the object's own special methods or read its name.
ALLOWED_DUNDER_ATTRS = frozenset(
    {
        "__init__",
        "__name__",
        "__qualname__",
        "__module__",
        "__doc__",
        "__call__",
        "__len__",
        "__length_hint__",
        "__iter__",
        "__next__",
        "__reversed__",
        "__getitem__",
        "__setitem__",
        "__delitem__",
        "__contains__",
        "__missing__",
        "__repr__",
        "__str__",
        "__format__",
        "__bool__",
        "__hash__",
        "__eq__",
        "__ne__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__float__",
        "__int__",
        "__complex__",
        "__index__",
        "__round__",
        "__trunc__",
        "__floor__",
        "__ceil__",
        "__neg__",
        "__pos__",
        "__abs__",
        "__invert__",
        "__enter__",
        "__exit__",
        "__post_init__",
        "__copy__",
        "__deepcopy__",
        "__slots__",
        "__match_args__",
    }
    | {
        f"__{prefix}{op}__"
        for op in (
            "add",
            "sub",
            "mul",
            "matmul",
            "truediv",
            "floordiv",
            "mod",
            "divmod",
            "pow",
            "lshift",
            "rshift",
            "and",
            "or",
            "xor",
        )
        for prefix in ("", "r", "i")
    }
    - {"__idivmod__"}
)
# Names of the interpreter's reflective types, from the types themselves.
# close/send/throw (generator protocol) and clear/replace (dict, str) are
# generic method names; on a generator they only resume the student's own code.
_REFLECTIVE_TYPES: tuple[type, ...] = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
    types.CodeType,
    types.FrameType,
    types.TracebackType,
    types.GeneratorType,
    types.CoroutineType,
    types.AsyncGeneratorType,
    types.CellType,
    types.ModuleType,
)
_GENERIC_METHOD_NAMES = frozenset({"close", "send", "throw", "clear", "replace"})
REFLECTIVE_ATTRS = (
    frozenset(n for t in _REFLECTIVE_TYPES for n in dir(t) if not n.startswith("_"))
    - _GENERIC_METHOD_NAMES
) | {"obj"}  # AttributeError.obj: whatever object a failed lookup was made on

# Private names the standard library uses on its classes (reviewed ones aside).
# Reviewed harmless: typing keeps a name string in _name; namedtuple's
# documented API; enum's documented hooks and member data; numbers kept by
# Fraction, NormalDist and Set, and Fraction's arithmetic helpers.
HARMLESS_PRIVATE = frozenset(
    {
        "_name",
        "_asdict",
        "_fields",
        "_field_defaults",
        "_make",
        "_replace",
        "_value_",
        "_name_",
        "_missing_",
        "_generate_next_value_",
        "_order_",
        "_mu",
        "_sigma",
        "_numerator",
        "_denominator",
        "_hash",
        "_add",
        "_sub",
        "_mul",
        "_div",
        "_floordiv",
        "_divmod",
        "_mod",
        "_richcmp",
    }
)


def _library_private_names() -> frozenset[str]:
    """Private attribute names found on every class and object the allowed modules hold.

    ``vars()`` over the MRO of each class and of its metaclass (``dir()`` can
    hide names: ``Enum._convert_`` lives on the metaclass), the ``__dict__`` of
    module-level objects, and an enum member, for the modules' namespaces
    (private names included), the builtins and the ``types`` module.
    """
    found: set[str] = set()
    seen: set[type] = set()
    pending: list[type] = []

    def add_object(value: object) -> None:
        pending.append(value if isinstance(value, type) else type(value))
        with contextlib.suppress(TypeError):  # no __dict__
            found.update(k for k in vars(value) if isinstance(k, str))

    class _Sample(enum.Enum):
        member = 1

    namespaces = [importlib.import_module(m) for m in sorted(STDLIB_ALLOWED)]
    for module in [*namespaces, builtins, types]:
        for value in list(vars(module).values()):
            if not isinstance(value, types.ModuleType):
                add_object(value)
    add_object(_Sample.member)
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        metaclass: type = type(cls)
        for klass in [*cls.__mro__, *metaclass.__mro__]:
            for key, value in list(vars(klass).items()):
                found.add(key)
                if isinstance(value, type):
                    pending.append(value)
    return frozenset(n for n in found if _is_private(n)) - HARMLESS_PRIVATE


LIBRARY_PRIVATE = _library_private_names()


# Rule 5: dunder names -----------------------------------------------------------
DUNDER_NAME_LOADS = frozenset({"__name__", "__doc__", "__file__", "__debug__"})
MODULE_METADATA = frozenset(
    {
        "__all__",
        "__version__",
        "__author__",
        "__license__",
        "__copyright__",
        "__email__",
        "__status__",
        "__credits__",
        "__maintainer__",
        "__date__",
        "__doc__",
    }
)
# Special methods a class may define (or bind, as in __radd__ = __add__): the
# interpreter calls them with the class's own instances and uses what they
# return as the result of an operation.
DEFINABLE_DUNDERS = (ALLOWED_DUNDER_ATTRS - {"__name__", "__qualname__", "__module__"}) | {
    "__new__",
    "__del__",
    "__bytes__",
    "__sizeof__",
    "__dir__",
    "__getattr__",
    "__getattribute__",
    "__setattr__",
    "__delattr__",
    "__class_getitem__",
}
# Left out on purpose: __init_subclass__ and __set_name__ receive a class while
# it is being built, and a descriptor's __get__ runs when dataclass reads the
# class's defaults: a dataclass still holds its Field objects then (see
# _check_dataclass). __instancecheck__, __subclasscheck__, __subclasshook__ and
# __mro_entries__ would let an object pose as an instance of another class.
_PROTOCOL_DUNDERS = frozenset(
    {
        "__reduce__",
        "__reduce_ex__",
        "__getstate__",
        "__setstate__",
        "__getnewargs__",
        "__getnewargs_ex__",
    }
)


@dataclass(frozen=True)
class Violation:
    line: int
    message: str
    topic: str = "code"


# CPython 3.11 before 3.11.8 keeps the parser's recursion depth in state shared by all
# threads (gh-106905): when a garbage collection inside one thread's ast.parse lets another
# thread parse, the first fails with "SystemError: AST constructor recursion depth
# mismatch". `grade batch` checks sources in several threads, so parsing takes turns.
_PARSING = threading.Lock()


def parse(source: str, **options: Any) -> Any:
    """``ast.parse``, one thread at a time."""
    with _PARSING:
        return ast.parse(source, **options)


def check_source(
    raw: bytes, *, max_bytes: int = MAX_SOURCE_BYTES, pack_dir: Path | None = None
) -> ErrorInfo | None:
    """Return why ``raw`` may not run (syntax or policy), or None when it may."""
    if len(raw) > max_bytes:
        return too_large(len(raw), max_bytes)
    if b"\0" in raw:
        return _error(
            kind="policy",
            message="The file contains NUL bytes: it looks binary, not Python source. "
            "Submit the text file minigpt.py.",
        )
    try:
        source = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return _error(
            kind="policy",
            message=f"The file is not valid UTF-8 (byte {exc.start} on line {line}). "
            "Save it as UTF-8 text.",
            line=line,
        )
    if not source.strip():
        return _error(
            kind="policy",
            message="The file is empty: start from the template's minigpt.py.",
        )
    try:
        tree = parse(source, filename="minigpt.py")
    except SyntaxError as exc:
        return _error(
            kind="syntax",
            message=f"Syntax error on line {exc.lineno}: {exc.msg}. "
            "Run `python minigpt.py` locally to see it.",
            line=exc.lineno,
        )
    except (RecursionError, MemoryError):
        return _too_deep()
    try:
        violations = find_violations(tree, pack_dir=pack_dir)
    except (RecursionError, MemoryError):
        return _too_deep()
    if not violations:
        return None
    return _as_error(violations)


def _error(kind: ErrorKind, message: str, line: int | None = None) -> ErrorInfo:
    """A refusal as the result model's ErrorInfo, imported only now: the judge checks
    every file, and the files it accepts must not cost it pydantic's import."""
    from .models import ErrorInfo

    return ErrorInfo(kind=kind, message=message, line=line)


def too_large(size: int, max_bytes: int) -> ErrorInfo:
    return _error(
        kind="policy",
        message=f"The file is {size:,} bytes; submissions are limited to {max_bytes:,} bytes. "
        "Submit only minigpt.py, without data or output pasted in.",
    )


def _too_deep() -> ErrorInfo:
    return _error(
        kind="policy",
        message="The code is nested too deeply to be read: split long expressions "
        "and deeply nested blocks into smaller functions.",
    )


def find_violations(tree: ast.AST, *, pack_dir: Path | None = None) -> list[Violation]:
    """Every policy violation in ``tree``, in source order."""
    pack = _pack_info(str(pack_dir if pack_dir is not None else DEFAULT_PACK_DIR))
    checker = _Checker(tree, pack)
    checker.run()
    unique = {(v.line, v.message): v for v in checker.violations}
    return sorted(unique.values(), key=lambda v: v.line)


def _as_error(violations: list[Violation]) -> ErrorInfo:
    shown = violations[:MAX_LISTED]
    lines = "; ".join(f"line {v.line}: {v.message}" for v in shown)
    more = f" (and {len(violations) - len(shown)} more)" if len(violations) > len(shown) else ""
    if any(v.topic == "import" for v in shown):
        rule = f"Solutions may import only {allowed_modules_text()}."
    else:
        rule = (
            "Submissions may use plain Python, their own classes and the allowed modules' "
            "public names; evaluating code, files, reflection and internals are off limits."
        )
    return _error(
        kind="policy",
        message=f"Not allowed in a submission: {lines}{more}. {rule}",
        line=shown[0].line,
    )


def allowed_modules_text(modules: Iterable[str] = ALLOWED_MODULES) -> str:
    """The allowed imports as one line, for messages and docs."""
    return ", ".join(sorted(m for m in modules if m != "__future__"))


def module_names(module: str, pack_dir: Path | None = None) -> frozenset[str]:
    """The names a submission may use from ``module`` (``mod.name`` or ``from mod import``)."""
    if module in PACK_MODULES:
        return _pack_info(str(pack_dir or DEFAULT_PACK_DIR)).names[module]
    return STDLIB_NAMES.get(module, frozenset())


# The pack ------------------------------------------------------------------------
@dataclass(frozen=True)
class _Pack:
    names: dict[str, frozenset[str]]  # public top-level names of engine and nn
    private: frozenset[str]  # private attribute names the pack defines (Value._children)


@functools.lru_cache(maxsize=8)
def _pack_info(pack_dir: str) -> _Pack:
    """The pack's API, read from its files (missing files allow nothing)."""
    names: dict[str, frozenset[str]] = {}
    private: set[str] = set()
    for module in sorted(PACK_MODULES):
        found: set[str] = set()
        path = Path(pack_dir) / f"{module}.py"
        if path.is_file():
            tree = parse(path.read_text(encoding="utf-8"))
            for node in tree.body:
                if isinstance(node, ast.ClassDef | ast.FunctionDef):
                    found.add(node.name)
                elif isinstance(node, ast.Assign):
                    found.update(t.id for t in node.targets if isinstance(t, ast.Name))
            collector = _Checker(tree, _Pack({m: frozenset() for m in PACK_MODULES}, frozenset()))
            collector.collect()
            private |= collector.defined_private
        names[module] = frozenset(n for n in found if not n.startswith("_"))
    return _Pack(names, frozenset(private))


# The checker ----------------------------------------------------------------------
@dataclass(frozen=True)
class _Ctx:
    """Where a node is: its scope (Module, ClassDef, function...) and enclosing class."""

    scope: ast.AST
    class_name: str | None
    annotation: bool = False
    line: int | None = None  # for nodes parsed from a string annotation


@dataclass(frozen=True)
class _Module:
    name: str  # a name bound to this module, e.g. "collections.abc"


@dataclass(frozen=True)
class _FromImport:
    module: str
    name: str


_Binding = _Module | _FromImport
_DATACLASS: tuple[str, frozenset[str]] = ("dataclasses", frozenset({"dataclass"}))
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_TYPE_NAME_ATTRS = frozenset({"__name__", "__qualname__", "__module__", "__doc__"})
_BUILTIN_CLASSES = SELF_MATCHING | {"object", "complex"}
_STRINGIFY_CALLS = frozenset({"repr", "str", "print"})
_DICT_SINK_CALLS = frozenset(
    {"repr", "str", "print", "len", "sorted", "list", "tuple", "set", "bool"}
)


def _mangle(name: str, class_name: str | None) -> str:
    """The name Python stores for ``name`` written inside class ``class_name``."""
    if class_name is None or not name.startswith("__") or name.endswith("__"):
        return name
    stripped = class_name.lstrip("_")
    return f"_{stripped}{name}" if stripped else name


class _Checker:
    def __init__(self, tree: ast.AST, pack: _Pack) -> None:
        self.tree = tree
        self.pack = pack
        self.violations: list[Violation] = []
        self.parents: dict[ast.AST, ast.AST] = {}
        self.ctxs: dict[ast.AST, _Ctx] = {}
        self.bindings: dict[str, _Binding] = {}
        self.binding_nodes: set[ast.AST] = set()  # Import/ImportFrom aliases
        self.defined_private: set[str] = set()

    # traversal -------------------------------------------------------------------
    def _walk(self, root: ast.AST, ctx: _Ctx, parent: ast.AST | None) -> Iterator[ast.AST]:
        """Every node under ``root`` (iteratively: deep files do not recurse), with its scope."""
        stack: list[tuple[ast.AST, _Ctx, ast.AST | None]] = [(root, ctx, parent)]
        while stack:
            node, node_ctx, node_parent = stack.pop()
            if node_parent is not None:
                self.parents[node] = node_parent
            self.ctxs[node] = node_ctx
            yield node
            children = list(self._children(node, node_ctx))
            stack.extend((child, child_ctx, node) for child, child_ctx in reversed(children))

    def _children(self, node: ast.AST, ctx: _Ctx) -> Iterator[tuple[ast.AST, _Ctx]]:
        """Children with the scope they are evaluated in (defaults, bases... outside)."""
        if isinstance(node, ast.FunctionDef | ast.Lambda):
            inner = _Ctx(node, ctx.class_name)
            if isinstance(node, ast.FunctionDef):
                for deco in node.decorator_list:
                    yield deco, ctx
            args = node.args
            for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
                yield default, ctx
            yield args, inner
            if isinstance(node, ast.FunctionDef):
                if node.returns is not None:
                    yield node.returns, _Ctx(ctx.scope, ctx.class_name, True, ctx.line)
                for stmt in node.body:
                    yield stmt, inner
            else:
                yield node.body, inner
        elif isinstance(node, ast.arguments):
            for arg in [*node.posonlyargs, *node.args, node.vararg, *node.kwonlyargs, node.kwarg]:
                if arg is not None:
                    yield arg, ctx
        elif isinstance(node, ast.arg):
            if node.annotation is not None:
                outer = self.ctxs.get(self.ctxs[node].scope)
                scope = outer.scope if outer is not None else ctx.scope
                yield node.annotation, _Ctx(scope, ctx.class_name, True, ctx.line)
        elif isinstance(node, ast.ClassDef):
            for expr in [*node.decorator_list, *node.bases, *node.keywords]:
                yield expr, ctx
            inner = _Ctx(node, node.name)
            for stmt in node.body:
                yield stmt, inner
        elif isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            inner = _Ctx(node, ctx.class_name, ctx.annotation, ctx.line)
            for index, gen in enumerate(node.generators):
                if index == 0:
                    yield gen.iter, ctx
                yield gen, inner
            if isinstance(node, ast.DictComp):
                yield node.key, inner
                yield node.value, inner
            else:
                yield node.elt, inner
        elif isinstance(node, ast.comprehension):
            first = self.parents.get(node)
            is_first = (
                isinstance(first, _COMPREHENSIONS)
                and getattr(first, "generators", [None])[0] is node
            )
            if not is_first:
                yield node.iter, ctx
            yield node.target, ctx
            for cond in node.ifs:
                yield cond, ctx
        elif isinstance(node, ast.AnnAssign):
            yield node.target, ctx
            yield node.annotation, _Ctx(ctx.scope, ctx.class_name, True, ctx.line)
            if node.value is not None:
                yield node.value, ctx
        else:
            for child in ast.iter_child_nodes(node):
                yield child, ctx

    # helpers ---------------------------------------------------------------------
    def _line(self, node: ast.AST) -> int:
        ctx = self.ctxs.get(node)
        if ctx is not None and ctx.line is not None:
            return ctx.line
        current: ast.AST | None = node
        while current is not None:
            line = getattr(current, "lineno", None)
            if isinstance(line, int):
                return line
            current = self.parents.get(current)
        return 0

    def _flag(self, node: ast.AST, message: str, topic: str = "code") -> None:
        self.violations.append(Violation(self._line(node), message, topic))

    def _scope_kind(self, node: ast.AST) -> str:
        scope = self.ctxs[node].scope
        if isinstance(scope, ast.Module):
            return "module"
        if isinstance(scope, ast.ClassDef):
            return "class"
        return "function"

    def _module_of(self, node: ast.AST) -> str | None:
        """The module ``node`` denotes (a name bound by import, or a submodule path)."""
        if isinstance(node, ast.Name):
            binding = self.bindings.get(node.id)
            return binding.name if isinstance(binding, _Module) else None
        if isinstance(node, ast.Attribute):
            parent = self._module_of(node.value)
            full = f"{parent}.{node.attr}" if parent else ""
            return full if full in ALLOWED_MODULES else None
        return None

    def _imported(self, node: ast.AST) -> _FromImport | None:
        """The (module, name) ``node`` denotes: ``name`` imported from it, or ``mod.name``."""
        if isinstance(node, ast.Name):
            binding = self.bindings.get(node.id)
            return binding if isinstance(binding, _FromImport) else None
        if isinstance(node, ast.Attribute):
            module = self._module_of(node.value)
            if module is not None and f"{module}.{node.attr}" not in ALLOWED_MODULES:
                return _FromImport(module, node.attr)
        return None

    def _refers(self, node: ast.AST, module: str, names: Iterable[str]) -> bool:
        target = self._imported(node)
        return target is not None and target.module == module and target.name in names

    def _root_import(self, node: ast.AST) -> str | None:
        """The imported name an attribute/subscript chain starts from, if any."""
        while isinstance(node, ast.Attribute | ast.Subscript):
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.bindings:
            return node.id
        return None

    def _call_to(self, node: ast.AST | None, names: frozenset[str]) -> bool:
        """Is ``node`` a call of one of these (unrebindable) builtins?"""
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in names
            and node.func.id not in self.bindings
        )

    # pass 1: what the file defines --------------------------------------------------
    def collect(self) -> None:
        for node in self._walk(self.tree, _Ctx(self.tree, None), None):
            ctx = self.ctxs[node]
            in_class = isinstance(ctx.scope, ast.ClassDef)
            if isinstance(node, ast.Import | ast.ImportFrom):
                self._collect_import(node)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store | ast.Del):
                self._define_private(node.attr, ctx.class_name)
            elif isinstance(node, ast.Call) and self._call_to(node, frozenset({"setattr"})):
                name = node.args[1] if len(node.args) > 1 else None
                if isinstance(name, ast.Constant) and isinstance(name.value, str):
                    self._define_private(name.value, ctx.class_name)
            elif in_class and isinstance(node, ast.FunctionDef | ast.ClassDef):
                self._define_private(node.name, ctx.class_name)
            elif in_class and isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                self._define_private(node.id, ctx.class_name)
                if node.id == "__slots__":
                    self._collect_slots(node, ctx.class_name)

    def _define_private(self, name: str, class_name: str | None) -> None:
        if _is_private(name):
            self.defined_private.add(_mangle(name, class_name))

    def _collect_slots(self, target: ast.Name, class_name: str | None) -> None:
        """The entries of ``__slots__ = (...)`` are attribute names the class defines."""
        assign = self.parents.get(target)
        value = getattr(assign, "value", None)
        if isinstance(value, ast.AST):
            for const in ast.walk(value):
                if isinstance(const, ast.Constant) and isinstance(const.value, str):
                    self._define_private(const.value, class_name)

    def _collect_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in ALLOWED_MODULES:
                    continue
                bound = alias.asname or alias.name.split(".")[0]
                target = alias.name if alias.asname else bound
                self._bind(bound, _Module(target), alias)
            return
        module = node.module or ""
        if node.level or module not in ALLOWED_MODULES:
            return
        for alias in node.names:
            bound = alias.asname or alias.name
            full = f"{module}.{alias.name}"
            if full in ALLOWED_MODULES:
                self._bind(bound, _Module(full), alias)
            elif alias.name != "*":
                self._bind(bound, _FromImport(module, alias.name), alias)

    def _bind(self, name: str, target: _Binding, alias: ast.alias) -> None:
        self.binding_nodes.add(alias)
        previous = self.bindings.get(name)
        if previous is not None and previous != target:
            self._flag(alias, f"`{name}` is imported twice as different things: rename one")
        self.bindings.setdefault(name, target)

    # pass 2: the checks ------------------------------------------------------------
    def run(self) -> None:
        self.collect()
        for node in list(self.ctxs):
            self._check(node)

    def _check(self, node: ast.AST) -> None:
        if type(node) not in ALLOWED_NODES:
            name = type(node).__name__
            label = _NODE_LABELS.get(name, f"the `{name}` construct")
            self._flag(node, f"{label} is not allowed in a submission")
            return
        if isinstance(node, ast.comprehension) and node.is_async:
            self._flag(node, "`async` comprehensions are not allowed in a submission")
        method = getattr(self, f"_check_{type(node).__name__}", None)
        if method is not None:
            method(node)

    # names and bindings
    def _check_Name(self, node: ast.Name) -> None:
        name, ctx = node.id, node.ctx
        if isinstance(ctx, ast.Load):
            self._check_name_load(node)
        else:
            self._check_binding(node, name, "assign" if isinstance(ctx, ast.Store) else "delete")

    def _check_name_load(self, node: ast.Name) -> None:
        name = node.id
        parent = self.parents.get(node)
        if _is_dunder(name):
            in_class = self._scope_kind(node) == "class"
            if name not in DUNDER_NAME_LOADS and not (in_class and name in DEFINABLE_DUNDERS):
                self._flag(node, f"the name `{name}` is not allowed")
            return
        binding = self.bindings.get(name)
        if isinstance(binding, _Module):
            if not (isinstance(parent, ast.Attribute) and parent.value is node):
                self._flag(
                    node,
                    f"`{name}` is a module: use it only as `{name}.something`, not as a value",
                )
            return
        if binding is not None:
            self._check_special_import(node, binding)
            return
        if name not in BUILTIN_NAMES:
            return
        if name in LITERAL_ATTR_CALLS:
            if not (isinstance(parent, ast.Call) and parent.func is node):
                self._flag(node, f"`{name}` is allowed only when called directly, as {name}(...)")
        elif name not in ALLOWED_BUILTINS:
            hint = _BUILTIN_HINTS.get(name, "it is not needed for this exercise")
            self._flag(node, f"`{name}` is not allowed ({hint})")
        elif name == "type" and not (isinstance(parent, ast.Call) and parent.func is node):
            self._flag(node, "`type` is allowed only called with one argument, as type(x)")

    def _check_binding(self, node: ast.AST, name: str, how: str) -> None:
        """A name bound or deleted by an assignment, def, class, import, parameter, pattern."""
        kind = self._scope_kind(node)
        if name in self.bindings and node not in self.binding_nodes:
            self._flag(node, f"`{name}` is the name of an import: choose another name")
        elif _is_dunder(name):
            self._check_dunder_binding(node, name, how, kind)
        elif name in BUILTIN_NAMES - ALLOWED_BUILTINS - LITERAL_ATTR_CALLS:
            self._flag(
                node,
                f"`{name}` is the name of a builtin that submissions may not use, "
                f"even for a variable: choose another name (such as `{name}_`)",
            )
        elif name in TRUSTED_BUILTINS:
            self._flag(
                node,
                f"`{name}` is a builtin these checks rely on: do not reuse its name "
                f"(choose another, such as `{name}_`)",
            )
        elif kind == "class":
            self._check_private_definition(node, name, self.ctxs[node].class_name)

    def _check_dunder_binding(self, node: ast.AST, name: str, how: str, kind: str) -> None:
        if kind == "module":
            allowed = name in MODULE_METADATA and how == "assign"
        elif kind == "class":
            allowed = how in ("assign", "def") and (name in DEFINABLE_DUNDERS or name == "__doc__")
        else:
            allowed = False
        if allowed:
            return
        if name in _PROTOCOL_DUNDERS:
            self._flag(
                node,
                f"defining `{name}` is not allowed: submissions cannot customise "
                "how objects are copied or pickled",
            )
        elif kind == "class":
            self._flag(node, f"`{name}` may not be defined in a class")
        elif how == "def":
            self._flag(node, f"a {kind}-level function named `{name}` is not allowed")
        else:
            self._flag(node, f"binding the name `{name}` is not allowed here")

    def _check_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._check_binding(node, node.name, "def")

    def _check_arg(self, node: ast.arg) -> None:
        self._check_binding(node, node.arg, "parameter")

    def _check_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name is not None:
            self._check_binding(node, node.name, "assign")

    def _check_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name is not None:
            self._check_binding(node, node.name, "assign")

    def _check_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name is not None:
            self._check_binding(node, node.name, "assign")

    def _check_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest is not None:
            self._check_binding(node, node.rest, "assign")

    def _check_Global(self, node: ast.Global | ast.Nonlocal) -> None:
        for name in node.names:
            if _is_dunder(name):
                self._flag(node, f"declaring `{name}` global or nonlocal is not allowed")

    _check_Nonlocal = _check_Global

    # imports
    def _check_Import(self, node: ast.Import) -> None:
        if self._scope_kind(node) == "class":
            self._flag(node, "imports inside a class body are not allowed: import at the top")
        for alias in node.names:
            if alias.name not in ALLOWED_MODULES:
                self._flag(node, f"`import {alias.name}` (module not allowed)", "import")
            else:
                self._check_binding(alias, alias.asname or alias.name.split(".")[0], "import")

    def _check_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if self._scope_kind(node) == "class":
            self._flag(node, "imports inside a class body are not allowed: import at the top")
        if node.level:
            self._flag(node, "relative imports are not allowed: write `from engine import ...`")
            return
        if module not in ALLOWED_MODULES:
            self._flag(node, f"`from {module} import ...` (module not allowed)", "import")
            return
        for alias in node.names:
            if alias.name == "*":
                self._flag(
                    node, f"`from {module} import *` is not allowed: import each name you use"
                )
                continue
            if f"{module}.{alias.name}" not in ALLOWED_MODULES:
                problem = self._module_attr_problem(module, alias.name)
                if problem:
                    self._flag(node, problem)
            self._check_binding(alias, alias.asname or alias.name, "import")

    def _module_attr_problem(self, module: str, attr: str) -> str:
        """Why ``module.attr`` is off limits, or '' when it is fine."""
        if module in PACK_MODULES:
            allowed = self.pack.names.get(module, frozenset())
            if attr in allowed:
                return ""
            api = ", ".join(sorted(allowed)) or "nothing"
            return f"`{module}.{attr}` is not part of the pack's API ({api})"
        if attr in STDLIB_NAMES.get(module, frozenset()):
            return ""
        if attr.startswith("_"):
            return f"`{module}.{attr}` is a private attribute of a module"
        value = getattr(importlib.import_module(module), attr, None)
        if isinstance(value, types.ModuleType):
            return f"`{module}.{attr}` is the module {value.__name__}, which is not allowed"
        reason = _REFUSED_REASONS.get(attr)
        if reason:
            return f"`{module}.{attr}` is not allowed: it {reason}"
        return f"`{module}.{attr}` is not one of the names a submission may use from {module}"

    def _check_special_import(self, node: ast.AST, target: _FromImport) -> None:
        """dataclass, field and the Enum classes have rules of their own (rule 6)."""
        parent = self.parents.get(node)
        if target.module == "dataclasses" and target.name == "dataclass":
            if not self._is_class_decorator(node):
                self._flag(
                    node,
                    "`dataclass` may only be used as a class decorator "
                    "(@dataclass or @dataclass(frozen=True, ...))",
                )
        elif target.module == "dataclasses" and target.name == "field":
            if not self._is_field_value(node):
                self._flag(
                    node,
                    "`field(...)` may only be the value of an annotated attribute in the body "
                    "of a @dataclass class, as in `x: list = field(default_factory=list)`",
                )
        elif target.module == "enum" and target.name in ENUM_CLASSES:
            in_bases = isinstance(parent, ast.ClassDef) and node in parent.bases
            if not in_bases and not self._is_isinstance_arg(node):
                self._flag(
                    node,
                    f"`{target.name}` may only be a base class (class Color({target.name}): ...) "
                    "or an isinstance() argument; Enum('Name', ...) is not allowed",
                )

    def _is_class_decorator(self, node: ast.AST) -> bool:
        parent = self.parents.get(node)
        if isinstance(parent, ast.ClassDef) and node in parent.decorator_list:
            return True
        if not (isinstance(parent, ast.Call) and parent.func is node):
            return False
        grand = self.parents.get(parent)
        plain = not parent.args and all(
            k.arg is not None and isinstance(k.value, ast.Constant) for k in parent.keywords
        )
        return plain and isinstance(grand, ast.ClassDef) and parent in grand.decorator_list

    def _is_field_value(self, node: ast.AST) -> bool:
        call = self.parents.get(node)
        if not (isinstance(call, ast.Call) and call.func is node):
            return False
        assign = self.parents.get(call)
        if not (
            isinstance(assign, ast.AnnAssign)
            and assign.value is call
            and isinstance(assign.target, ast.Name)
        ):
            return False
        cls = self.parents.get(assign)
        return isinstance(cls, ast.ClassDef) and self._is_dataclass(cls)

    def _is_dataclass(self, cls: ast.ClassDef) -> bool:
        for deco in cls.decorator_list:
            func = deco.func if isinstance(deco, ast.Call) else deco
            if self._refers(func, *_DATACLASS):
                return True
        return False

    def _is_isinstance_arg(self, node: ast.AST) -> bool:
        parent = self.parents.get(node)
        if isinstance(parent, ast.Tuple):
            node, parent = parent, self.parents.get(parent)
        return self._call_to(parent, frozenset({"isinstance", "issubclass"})) and node in getattr(
            parent, "args", []
        )

    # classes
    def _check_ClassDef(self, node: ast.ClassDef) -> None:
        self._check_binding(node, node.name, "def")
        for keyword in node.keywords:
            if keyword.arg is None or keyword.arg == "metaclass":
                self._flag(
                    keyword,
                    "`metaclass=` (or **keywords) in a class definition is not allowed: "
                    "derive from abc.ABC for an abstract class",
                )
        if any(self._refers(base, "enum", ENUM_CLASSES) for base in node.bases):
            self._check_enum_body(node)
        if self._is_dataclass(node):
            self._check_dataclass(node)

    def _check_enum_body(self, node: ast.ClassDef) -> None:
        """An Enum class with a member can neither be extended nor called as Enum('X', ...)."""
        has_member = False
        for stmt in node.body:
            if not isinstance(stmt, ast.Assign):
                continue
            for target in stmt.targets:
                if isinstance(target, ast.Name) and target.id == "_ignore_":
                    self._flag(stmt, "`_ignore_` is not allowed in an Enum class")
            target = stmt.targets[0]
            named = isinstance(target, ast.Name) and not target.id.startswith("_")
            if len(stmt.targets) == 1 and named and self._is_member_value(stmt.value):
                has_member = True
        if not has_member:
            self._flag(
                node,
                f"the Enum class `{node.name}` must define at least one member in its body, "
                "as `RED = 1` or `RED = auto()`",
            )

    def _is_member_value(self, value: ast.expr) -> bool:
        if isinstance(value, ast.Constant):
            return True
        if isinstance(value, ast.UnaryOp) and isinstance(value.operand, ast.Constant):
            return True
        if isinstance(value, ast.Tuple):
            return all(self._is_member_value(e) for e in value.elts)
        return (
            isinstance(value, ast.Call)
            and not value.args
            and not value.keywords
            and self._refers(value.func, "enum", ("auto",))
        )

    def _check_dataclass(self, node: ast.ClassDef) -> None:
        """dataclass writes field names into code it executes: its Field objects stay its own.

        A Field whose name was changed would end up in the generated ``__init__``
        of a dataclass deriving from this one. So no decorator runs before
        @dataclass, no field is read in the class body, and the class is not
        an Enum or a NamedTuple (which keep class-body values as members or
        defaults). Hooks that see the class being built are not definable.
        """
        last = node.decorator_list[-1]
        if not self._refers(last.func if isinstance(last, ast.Call) else last, *_DATACLASS):
            self._flag(node, "put @dataclass directly above the class, below other decorators")
        kinds = (("enum", ENUM_CLASSES), ("typing", frozenset({"NamedTuple"})))
        if any(self._refers(b, module, names) for b in node.bases for module, names in kinds):
            self._flag(node, "@dataclass may not decorate an Enum or NamedTuple class")
        fields = {
            stmt.target.id
            for stmt in node.body
            if isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and isinstance(stmt.value, ast.Call)
            and self._refers(stmt.value.func, "dataclasses", ("field",))
        }
        if not fields:
            return
        for stmt in node.body:
            for sub in ast.walk(stmt):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id in fields:
                    self._flag(
                        sub,
                        f"`{sub.id}` is a dataclass field: it may not be read in the class body",
                    )

    # attributes
    def _check_Attribute(self, node: ast.Attribute) -> None:
        module = self._module_of(node.value)
        if module is not None:
            self._check_module_attribute(node, module)
            return
        attr, ctx = node.attr, node.ctx
        if not isinstance(ctx, ast.Load):
            root = self._root_import(node.value)
            if root is not None:
                self._flag(
                    node,
                    f"changing `{ast.unparse(node)}` is not allowed: do not modify imported "
                    "modules or classes (subclass them instead)",
                )
                return
        if _is_dunder(attr):
            self._check_dunder_attribute(node)
            return
        if attr in ("format", "format_map"):
            self._check_format(node)
            return
        problem = self._attr_name_problem(
            attr, self.ctxs[node].class_name, store=not isinstance(ctx, ast.Load)
        )
        if problem:
            self._flag(node, problem)

    def _check_module_attribute(self, node: ast.Attribute, module: str) -> None:
        parent = self.parents.get(node)
        if not isinstance(node.ctx, ast.Load):
            self._flag(
                node,
                f"changing `{module}.{node.attr}` is not allowed: do not modify imported modules",
            )
            return
        full = f"{module}.{node.attr}"
        if full in ALLOWED_MODULES:
            if not (isinstance(parent, ast.Attribute) and parent.value is node):
                self._flag(node, f"`{full}` is a module: use it only as `{full}.something`")
            return
        problem = self._module_attr_problem(module, node.attr)
        if problem:
            self._flag(node, problem)
            return
        self._check_special_import(node, _FromImport(module, node.attr))

    def _check_dunder_attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if not isinstance(node.ctx, ast.Load):
            self._flag(node, f"assigning or deleting the attribute `{attr}` is not allowed")
        elif attr == "__class__":
            problem = self._type_query_problem(node)
            if problem:
                self._flag(node, f"`x.__class__` {problem}")
        elif attr == "__dict__":
            if not self._is_dict_sink(node):
                self._flag(
                    node,
                    "`x.__dict__` may only be printed, put in an f-string, measured with len() "
                    "or turned into a list of its keys; read attributes by name instead",
                )
        elif attr not in ALLOWED_DUNDER_ATTRS:
            self._flag(node, f"the attribute `{attr}` is not allowed")

    def _attr_name_problem(self, attr: str, class_name: str | None, *, store: bool) -> str:
        """Why an attribute named ``attr`` may not be used (rule 4), or ''."""
        if _is_dunder(attr):
            return f"the attribute `{attr}` is not allowed"
        if attr == "obj":
            return (
                "the attribute `obj` is not allowed (on an AttributeError it is the object "
                "whose lookup failed); choose another name"
            )
        if attr in REFLECTIVE_ATTRS:
            return (
                f"the attribute `{attr}` (frames, code objects, tracebacks and generator "
                "internals) is not allowed"
            )
        if attr in ("format", "format_map"):
            return f"`.{attr}` is allowed only called on a string literal"
        if not _is_private(attr):
            return ""
        mangled = _mangle(attr, class_name)
        if mangled in LIBRARY_PRIVATE:
            return (
                f"`{attr}` is an internal name of Python's standard library: "
                "name your own private attributes differently"
            )
        if store or mangled in HARMLESS_PRIVATE:
            return ""
        if mangled not in self.defined_private and mangled not in self.pack.private:
            return (
                f"`.{attr}` is a private attribute your file does not define: "
                "use only private attributes your own classes create"
            )
        return ""

    def _check_private_definition(self, node: ast.AST, name: str, class_name: str | None) -> None:
        if _is_private(name) and _mangle(name, class_name) in LIBRARY_PRIVATE:
            self._flag(
                node,
                f"`{name}` is an internal name of Python's standard library: "
                "name your own private attributes differently",
            )

    def _type_query_problem(self, node: ast.AST) -> str:
        """``type(x)`` and ``x.__class__``: only read, compared or checked, never kept (rule 2).

        Comparisons are a way out too: ``type(x) == spy`` calls ``spy.__eq__(type(x))``
        when type's own ``__eq__`` gives up, so ``==``/``in`` are allowed only
        between types and builtin classes; ``is`` never calls anything.
        """
        parent = self.parents.get(node)
        container = parent
        if isinstance(parent, ast.Tuple | ast.List | ast.Set):
            container = self.parents.get(parent)
        if isinstance(parent, ast.Attribute) and parent.value is node:
            if parent.attr in _TYPE_NAME_ATTRS and isinstance(parent.ctx, ast.Load):
                return ""
        elif isinstance(container, ast.Compare):
            if all(isinstance(op, ast.Is | ast.IsNot) for op in container.ops):
                return ""
            operands = [container.left, *container.comparators]
            if all(self._inert_operand(e) for e in operands):
                return ""
            return (
                "may be compared with `==` or `in` only to other types and builtin classes "
                "(type(a) == type(b), type(x) in (int, float)); use `is` otherwise"
            )
        stringified = isinstance(parent, ast.FormattedValue) and parent.value is node
        stringified = stringified or (
            self._call_to(parent, _STRINGIFY_CALLS) and node in getattr(parent, "args", [])
        )
        if stringified or self._is_isinstance_arg(node):
            return ""
        return (
            "is allowed only to read its name (`.__name__`), in comparisons or in "
            "isinstance(); to make a new object, call the class by its name"
        )

    def _is_type_query(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Attribute):
            return node.attr == "__class__" and isinstance(node.ctx, ast.Load)
        return (
            self._call_to(node, frozenset({"type"}))
            and len(getattr(node, "args", ())) == 1
            and not getattr(node, "keywords", ())
        )

    def _inert_operand(self, node: ast.AST) -> bool:
        """Operands whose special methods are the interpreter's: types, builtin classes, None."""
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return all(self._inert_operand(e) for e in node.elts)
        if isinstance(node, ast.Constant):
            return node.value is None
        if isinstance(node, ast.Name):
            return node.id in _BUILTIN_CLASSES and node.id not in self.bindings
        return self._is_type_query(node)

    def _is_dict_sink(self, node: ast.AST) -> bool:
        """Where a ``__dict__`` is consumed at once: a string, a length, a bool, its keys.

        Not comparisons: ``d == spy`` hands ``d`` to ``spy.__eq__``.
        """
        parent = self.parents.get(node)
        if isinstance(parent, ast.FormattedValue) and parent.value is node:
            return True
        return self._call_to(parent, _DICT_SINK_CALLS) and node in getattr(parent, "args", [])

    def _check_format(self, node: ast.Attribute) -> None:
        parent = self.parents.get(node)
        literal = isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        called = isinstance(parent, ast.Call) and parent.func is node
        if not (literal and called and isinstance(node.ctx, ast.Load)):
            self._flag(
                node,
                f"`.{node.attr}(...)` is allowed only on a string literal, as "
                '"{} and {}".format(a, b); an f-string does the same',
            )
            return
        problem = _format_string_problem(str(node.value.value))  # type: ignore[attr-defined]
        if problem:
            self._flag(node, problem)

    def _check_Subscript(self, node: ast.Subscript) -> None:
        if not isinstance(node.ctx, ast.Load) and self._root_import(node.value) is not None:
            self._flag(
                node,
                f"changing `{ast.unparse(node)}` is not allowed: do not modify imported "
                "modules or classes",
            )

    # calls
    def _check_Call(self, node: ast.Call) -> None:
        func = node.func
        if not isinstance(func, ast.Name) or func.id in self.bindings:
            return
        if func.id in LITERAL_ATTR_CALLS:
            self._check_literal_attr_call(node, func.id)
        elif func.id == "type":
            plain = len(node.args) == 1 and not node.keywords
            if not plain or isinstance(node.args[0], ast.Starred):
                self._flag(node, "`type` is allowed only with one argument, as type(x)")
                return
            problem = self._type_query_problem(node)
            if problem:
                self._flag(node, f"`type(x)` {problem}")

    def _check_literal_attr_call(self, node: ast.Call, name: str) -> None:
        counts = (2, 3) if name == "getattr" else (3,)
        args = node.args
        literal = (
            len(args) in counts
            and not node.keywords
            and not any(isinstance(a, ast.Starred) for a in args)
            and isinstance(args[1], ast.Constant)
            and isinstance(args[1].value, str)
        )
        if not literal:
            self._flag(
                node,
                f"`{name}` is allowed only with a literal, non-dunder attribute name, as "
                f'{name}(obj, "name"{", value" if name == "setattr" else ", default"})',
            )
            return
        attr = str(args[1].value)  # type: ignore[attr-defined]
        if _is_dunder(attr):
            self._flag(node, f"`{name}` is allowed only with a literal, non-dunder name")
            return
        class_name = self.ctxs[node].class_name
        problem = self._attr_name_problem(attr, class_name, store=name == "setattr")
        if problem:
            self._flag(node, problem)
        if name == "setattr" and self._root_import(args[0]) is not None:
            self._flag(
                node,
                "changing imported modules or classes with setattr is not allowed "
                "(subclass them instead)",
            )

    # patterns
    def _check_MatchClass(self, node: ast.MatchClass) -> None:
        if node.patterns:
            cls = node.cls
            builtin = (
                isinstance(cls, ast.Name)
                and cls.id in SELF_MATCHING
                and cls.id not in self.bindings
                and len(node.patterns) == 1
            )
            if not builtin:
                self._flag(
                    node,
                    "positional sub-patterns in `case C(...)` are not allowed (except one for "
                    "builtins, as in `case int(n)`): write `case C(attr=pattern)`",
                )
        class_name = self.ctxs[node].class_name
        for attr in node.kwd_attrs:
            problem = self._attr_name_problem(attr, class_name, store=False)
            if problem:
                self._flag(node, f"in a class pattern: {problem}")

    # strings
    def _check_Constant(self, node: ast.Constant) -> None:
        ctx = self.ctxs[node]
        if not (ctx.annotation and isinstance(node.value, str)) or self._is_literal_arg(node):
            return
        text = node.value
        try:
            expression = parse(text, mode="eval")
        except (SyntaxError, ValueError):
            self._flag(node, f"the string annotation {text!r} is not a valid type expression")
            return
        line = ctx.line if ctx.line is not None else self._line(node)
        parent = self.parents.get(node)
        sub_ctx = _Ctx(ctx.scope, ctx.class_name, True, line)
        for sub in list(self._walk(expression.body, sub_ctx, parent)):
            self._check(sub)

    def _is_literal_arg(self, node: ast.AST) -> bool:
        """Strings in Literal[...] and Annotated[...]'s metadata are values, not annotations."""
        current, parent = node, self.parents.get(node)
        while parent is not None and not isinstance(parent, ast.Subscript):
            if not isinstance(parent, ast.Tuple):
                return False
            current, parent = parent, self.parents.get(parent)
        if parent is None or current is parent.value:
            return False
        if self._refers(parent.value, "typing", ("Literal",)):
            return True
        if self._refers(parent.value, "typing", ("Annotated",)):
            elts = parent.slice.elts if isinstance(parent.slice, ast.Tuple) else [parent.slice]
            return node is not elts[0]
        return False


def _format_string_problem(text: str) -> str:
    """Why ``text.format(...)`` could reach attributes or items, or '' when its fields are plain."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:
        return "the format string is not valid: use an f-string"
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field and not (field.isdigit() or field.isidentifier()):
            return (
                f"the format field {{{field}}} reads an attribute or an item: "
                "use an f-string instead"
            )
        if conversion not in (None, "r", "s", "a"):
            return "the format string is not valid: use an f-string"
        if spec:
            nested = _format_string_problem(spec)
            if nested:
                return nested
    return ""
