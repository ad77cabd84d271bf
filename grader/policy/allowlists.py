"""The policy's allowlists: the tables a reviewer edits, and what is read from the interpreter.

Rules 1 (syntax), 2 (builtins), 4 (attributes) and 5 (dunder names) are here;
rule 3's modules and their names are in :mod:`.modules`. Each table only lets
through what the promise of :mod:`grader.policy` allows: nothing a submission
can reach through a name listed here may be a module, a frame, a traceback, a
code object, a function's globals or closure, the builtins namespace, the
metaclass ``type``, an attribute chosen by a string at run time, or a string
that something evaluates.

Adding a name safely:

1. Find the rule and its table (``ALLOWED_BUILTINS``, ``ALLOWED_DUNDER_ATTRS``,
   ``HARMLESS_PRIVATE``, ``DEFINABLE_DUNDERS``, ``STDLIB_ALLOWED`` or
   ``_EXPLICIT_NAMES`` in :mod:`.modules`...), and keep the comment beside the
   table true.
2. Read what the name does in CPython's source, not only its documentation:
   what it returns, which attributes it reads or writes (by a computed name?),
   whether it evaluates a string, builds a class from data, or calls a hook the
   student defines. One such path is a way out; leave the name out.
3. Do the same one level down: the attributes and the results of what the name
   returns (``test_no_allowed_name_exposes_a_module_or_metaclass_one_level_down``
   checks the modules' names).
4. Add ordinary code using the name to ``ORDINARY`` in ``tests/test_policy.py``
   and each way it could be misused to ``ESCAPES``; run that file and the attack
   bank (``tests/test_attacks.py``).
5. The policy is part of the suite hash (:func:`grader.paths.suite_files`):
   rebuild the image after a change.

The tables read from the interpreter (``BUILTIN_NAMES``, the exception classes,
``REFLECTIVE_ATTRS``, ``LIBRARY_PRIVATE``, the operator families of
``ALLOWED_NODES``) follow the running Python: a new Python version's names are
refused or guarded without an edit here, until they are reviewed.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import enum
import importlib
import types

from .modules import STDLIB_ALLOWED


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
