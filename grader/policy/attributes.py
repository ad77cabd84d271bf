"""Rules 2 and 4 on attribute access: which attribute names, on what, and how.

Module attributes against each module's allowlist, dunders, private and
reflective names, ``type(x)`` and ``x.__class__`` (only read, compared or
checked), ``x.__dict__`` (only consumed at once), ``getattr``/``setattr`` with a
literal name, ``.format`` on a literal, and the attribute names of class patterns.
"""

from __future__ import annotations

import ast
import importlib
import string
import types

from .allowlists import (
    ALLOWED_DUNDER_ATTRS,
    HARMLESS_PRIVATE,
    LIBRARY_PRIVATE,
    LITERAL_ATTR_CALLS,
    REFLECTIVE_ATTRS,
    SELF_MATCHING,
    _is_dunder,
    _is_private,
)
from .classes import _ClassRules
from .modules import _REFUSED_REASONS, ALLOWED_MODULES, PACK_MODULES, STDLIB_NAMES
from .pack import _Pack
from .scope import _FromImport, _mangle

_TYPE_NAME_ATTRS = frozenset({"__name__", "__qualname__", "__module__", "__doc__"})
_BUILTIN_CLASSES = SELF_MATCHING | {"object", "complex"}
_STRINGIFY_CALLS = frozenset({"repr", "str", "print"})
_DICT_SINK_CALLS = frozenset(
    {"repr", "str", "print", "len", "sorted", "list", "tuple", "set", "bool"}
)


class _AttributeChecks(_ClassRules):
    """The checks of attributes, type queries, literal-name calls and class patterns."""

    def __init__(self, tree: ast.AST, pack: _Pack) -> None:
        super().__init__(tree)
        self.pack = pack

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
