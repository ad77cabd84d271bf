"""Static checks on a submission's source, before any of it runs.

The sandbox is what keeps a hostile file contained; this policy is the layer
in front of it that turns the usual escape hatches (``open``, ``eval``,
``random._os``, ``().__class__.__base__``...) into a clear message with a line
number, and keeps the process backend honest for students on their own
machines. It is an allowlist: ordinary code passes, anything reflective does
not. It imports nothing but the standard-library modules it allows.
"""

from __future__ import annotations

import ast
import importlib
import re
import types
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .models import ErrorInfo

MAX_SOURCE_BYTES = 100_000

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

# Public names that still reach code evaluation or arbitrary attributes.
MODULE_DENYLIST: dict[str, frozenset[str]] = {
    "typing": frozenset({"get_type_hints", "ForwardRef", "evaluate_forward_ref"}),
    "operator": frozenset({"attrgetter", "methodcaller"}),
}

FORBIDDEN_BUILTINS = frozenset(
    {
        "eval",
        "exec",
        "compile",
        "open",
        "__import__",
        "globals",
        "locals",
        "vars",
        "input",
        "breakpoint",
        "help",
        "exit",
        "quit",
        "memoryview",
        "delattr",
        "setattr",
        "getattr",
        "__builtins__",
        "__loader__",
        "__spec__",
    }
)
# getattr-style calls are fine with a literal, non-dunder attribute name.
LITERAL_ATTR_CALLS = frozenset({"getattr", "setattr", "delattr"})

ALLOWED_DUNDER_ATTRS = frozenset(
    {
        "__init__",
        "__name__",
        "__qualname__",
        "__doc__",
        "__class__",
        "__call__",
        "__len__",
        "__iter__",
        "__next__",
        "__getitem__",
        "__setitem__",
        "__contains__",
        "__repr__",
        "__str__",
        "__add__",
        "__radd__",
        "__sub__",
        "__rsub__",
        "__mul__",
        "__rmul__",
        "__truediv__",
        "__rtruediv__",
        "__neg__",
        "__pow__",
        "__eq__",
        "__ne__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__hash__",
        "__bool__",
        "__float__",
        "__int__",
        "__post_init__",
    }
)
ALLOWED_DUNDER_NAMES = frozenset({"__name__", "__doc__"})
FRAME_ATTRS = frozenset(
    {
        "gi_frame",
        "gi_code",
        "cr_frame",
        "cr_code",
        "ag_frame",
        "ag_code",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "f_code",
        "tb_frame",
        "tb_next",
        "co_code",
        "co_consts",
        "co_names",
    }
)
_DUNDER = re.compile(r"^__\w+__$")
_DANGEROUS_IN_STRING = re.compile(
    r"__(class|base|bases|mro|subclasses|globals|builtins|import|dict|code|closure|"
    r"func|self|loader|spec|getattribute|reduce|reduce_ex)__"
)


@dataclass(frozen=True)
class Violation:
    line: int
    message: str


def check_source(
    raw: bytes, *, max_bytes: int = MAX_SOURCE_BYTES, pack_dir: Path | None = None
) -> ErrorInfo | None:
    """Return why ``raw`` may not run (syntax or policy), or None when it may."""
    if len(raw) > max_bytes:
        return too_large(len(raw), max_bytes)
    if b"\0" in raw:
        return ErrorInfo(
            kind="policy",
            message="The file contains NUL bytes: it looks binary, not Python source. "
            "Submit the text file minigpt.py.",
        )
    try:
        source = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return ErrorInfo(
            kind="policy",
            message=f"The file is not valid UTF-8 (byte {exc.start} on line {line}). "
            "Save it as UTF-8 text.",
            line=line,
        )
    if not source.strip():
        return ErrorInfo(
            kind="policy",
            message="The file is empty: start from the template's minigpt.py.",
        )
    try:
        tree = ast.parse(source, filename="minigpt.py")
    except SyntaxError as exc:
        return ErrorInfo(
            kind="syntax",
            message=f"Syntax error on line {exc.lineno}: {exc.msg}. "
            "Run `python minigpt.py` locally to see it.",
            line=exc.lineno,
        )
    except (RecursionError, MemoryError):
        return ErrorInfo(kind="policy", message="The code is nested too deeply to be read.")
    violations = find_violations(tree, pack_dir=pack_dir)
    if not violations:
        return None
    return _as_error(violations)


def too_large(size: int, max_bytes: int) -> ErrorInfo:
    return ErrorInfo(
        kind="policy",
        message=f"The file is {size:,} bytes; submissions are limited to {max_bytes:,} bytes. "
        "Submit only minigpt.py, without data or output pasted in.",
    )


def find_violations(tree: ast.AST, *, pack_dir: Path | None = None) -> list[Violation]:
    """Every policy violation in ``tree``, in source order."""
    checker = _Checker(_pack_public_names(pack_dir))
    checker.visit(tree)
    return sorted(checker.violations, key=lambda v: v.line)


def _as_error(violations: list[Violation]) -> ErrorInfo:
    shown = violations[:5]
    lines = "; ".join(f"line {v.line}: {v.message}" for v in shown)
    more = f" (and {len(violations) - len(shown)} more)" if len(violations) > len(shown) else ""
    if any("module not allowed" in v.message for v in shown):
        rule = f"Solutions may import only {allowed_modules_text()}."
    else:
        rule = "eval/exec/open, reflection and private attributes of modules are off limits."
    return ErrorInfo(
        kind="policy",
        message=f"Not allowed in a submission: {lines}{more}. {rule}",
        line=shown[0].line,
    )


def _pack_public_names(pack_dir: Path | None) -> dict[str, frozenset[str]]:
    """Top-level public names of engine.py and nn.py: the attributes a solution may use."""
    names: dict[str, frozenset[str]] = {}
    for module in PACK_MODULES:
        found: set[str] = set()
        path = pack_dir / f"{module}.py" if pack_dir else None
        if path and path.is_file():
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if isinstance(node, ast.ClassDef | ast.FunctionDef):
                    found.add(node.name)
                elif isinstance(node, ast.Assign):
                    found.update(t.id for t in node.targets if isinstance(t, ast.Name))
        names[module] = frozenset(n for n in found if not n.startswith("_"))
    return names


def _module_attr_problem(module: str, attr: str, pack_names: dict[str, frozenset[str]]) -> str:
    """Why ``module.attr`` is off limits, or '' when it is fine."""
    if attr.startswith("_"):
        return f"`{module}.{attr}` is a private attribute of a module"
    if attr in MODULE_DENYLIST.get(module, frozenset()):
        return f"`{module}.{attr}` evaluates code or reaches arbitrary attributes"
    if module in PACK_MODULES:
        allowed = pack_names.get(module, frozenset())
        if allowed and attr not in allowed:
            return f"`{module}.{attr}` is not part of the pack's API ({', '.join(sorted(allowed))})"
        return ""
    try:
        value = getattr(importlib.import_module(module), attr, None)
    except ImportError:  # pragma: no cover - every allowed module is in the stdlib
        return ""
    if isinstance(value, types.ModuleType) and value.__name__ not in ALLOWED_MODULES:
        return f"`{module}.{attr}` is the module {value.__name__}, which is not allowed"
    return ""


class _Checker(ast.NodeVisitor):
    def __init__(self, pack_names: dict[str, frozenset[str]]) -> None:
        self.violations: list[Violation] = []
        self.module_aliases: dict[str, str] = {}
        self.pack_names = pack_names

    def _flag(self, node: ast.AST, message: str) -> None:
        self.violations.append(Violation(getattr(node, "lineno", 0), message))

    # imports -----------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name not in ALLOWED_MODULES:
                self._flag(node, f"`import {alias.name}` (module not allowed)")
                continue
            if alias.asname:
                self.module_aliases[alias.asname] = alias.name
            else:
                root = alias.name.split(".")[0]
                self.module_aliases[root] = root

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            self._flag(node, "relative imports are not allowed")
            return
        if module not in ALLOWED_MODULES:
            self._flag(node, f"`from {module} import ...` (module not allowed)")
            return
        for alias in node.names:
            if alias.name == "*":
                continue
            full = f"{module}.{alias.name}"
            if full in ALLOWED_MODULES:
                self.module_aliases[alias.asname or alias.name] = full
                continue
            problem = _module_attr_problem(module, alias.name, self.pack_names)
            if problem:
                self._flag(node, problem)

    # names and attributes ----------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        if node.id in FORBIDDEN_BUILTINS:
            self._flag(node, f"`{node.id}` is not allowed")
        elif _DUNDER.match(node.id) and node.id not in ALLOWED_DUNDER_NAMES:
            self._flag(node, f"the name `{node.id}` is not allowed")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        base = node.value
        if _DUNDER.match(attr) and attr not in ALLOWED_DUNDER_ATTRS:
            is_self_dict = attr == "__dict__" and isinstance(base, ast.Name) and base.id == "self"
            if not is_self_dict:
                self._flag(node, f"the attribute `{attr}` is not allowed")
        elif attr in FRAME_ATTRS:
            self._flag(node, f"the attribute `{attr}` (frames and code objects) is not allowed")
        module = self._module_of(base)
        if module is not None:
            problem = _module_attr_problem(module, attr, self.pack_names)
            if problem:
                self._flag(node, problem)
        self.generic_visit(node)

    def _module_of(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return self.module_aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            parent = self._module_of(node.value)
            full = f"{parent}.{node.attr}" if parent else None
            return full if full in ALLOWED_MODULES else None
        return None

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in LITERAL_ATTR_CALLS:
            name_arg = node.args[1] if len(node.args) > 1 else None
            literal = isinstance(name_arg, ast.Constant) and isinstance(name_arg.value, str)
            if literal and not str(name_arg.value).startswith("__"):  # type: ignore[union-attr]
                for arg in node.args:
                    self.visit(arg)
                for keyword in node.keywords:
                    self.visit(keyword)
                return
            self._flag(node, f"`{func.id}` is allowed only with a literal, non-dunder name")
            for arg in node.args:
                self.visit(arg)
            return
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and _DANGEROUS_IN_STRING.search(node.value):
            self._flag(node, "strings naming interpreter internals are not allowed")


def allowed_modules_text(modules: Iterable[str] = ALLOWED_MODULES) -> str:
    """The allowed imports as one line, for messages and docs."""
    return ", ".join(sorted(m for m in modules if m != "__future__"))
