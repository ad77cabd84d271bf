"""The tree a check reads: the source parsed, each node's scope, and what imports bind.

:class:`_Scopes` walks the tree once (iteratively: a deeply nested file does not
recurse), records every node's parent and scope (``_Ctx``), and, in pass 1
(:meth:`_Scopes.collect`), the names bound by imports and the private names the
file defines. The checks (pass 2) build on it: :mod:`.classes`,
:mod:`.attributes`, :mod:`.checker`.
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .allowlists import _is_private
from .modules import ALLOWED_MODULES


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
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _mangle(name: str, class_name: str | None) -> str:
    """The name Python stores for ``name`` written inside class ``class_name``."""
    if class_name is None or not name.startswith("__") or name.endswith("__"):
        return name
    stripped = class_name.lstrip("_")
    return f"_{stripped}{name}" if stripped else name


class _Scopes:
    """Where each node is and what the file's imports bind: what every check looks up."""

    def __init__(self, tree: ast.AST) -> None:
        self.tree = tree
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

    def _is_isinstance_arg(self, node: ast.AST) -> bool:
        parent = self.parents.get(node)
        if isinstance(parent, ast.Tuple):
            node, parent = parent, self.parents.get(parent)
        return self._call_to(parent, frozenset({"isinstance", "issubclass"})) and node in getattr(
            parent, "args", []
        )
