"""Rule 6's classes built from data: ``dataclass``, ``field()`` and the Enum classes.

``dataclass`` writes field names into code it executes, and ``Enum("Name", ...)``
takes member and dunder names as data: both only in the forms checked here.
"""

from __future__ import annotations

import ast

from .modules import ENUM_CLASSES
from .scope import _FromImport, _Scopes

_DATACLASS: tuple[str, frozenset[str]] = ("dataclasses", frozenset({"dataclass"}))


class _ClassRules(_Scopes):
    """Where ``dataclass``, ``field`` and the Enum classes may appear, and their classes' bodies."""

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
