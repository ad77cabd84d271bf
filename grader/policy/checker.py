"""The policy's AST visitor: pass 2 dispatches each node to its check.

:class:`_Checker` adds to the layers below it (:mod:`.scope`, :mod:`.classes`,
:mod:`.attributes`) the syntax allowlist (rule 1), names and bindings (rules 2,
3 and 5), imports (rule 3), class definitions, and string annotations, which
are parsed and checked like the code around them (rule 6).
"""

from __future__ import annotations

import ast

from .allowlists import (
    _BUILTIN_HINTS,
    _NODE_LABELS,
    _PROTOCOL_DUNDERS,
    ALLOWED_BUILTINS,
    ALLOWED_NODES,
    BUILTIN_NAMES,
    DEFINABLE_DUNDERS,
    DUNDER_NAME_LOADS,
    LITERAL_ATTR_CALLS,
    MODULE_METADATA,
    TRUSTED_BUILTINS,
    _is_dunder,
)
from .attributes import _AttributeChecks
from .modules import ALLOWED_MODULES, ENUM_CLASSES
from .scope import _Ctx, _Module, parse


class _Checker(_AttributeChecks):
    """Every check, run over a parsed file: ``_Checker(tree, pack).run()`` fills ``violations``."""

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
