"""The pack's API (``engine.py``, ``nn.py``): the names a submission may import from it.

Read from the pack's own files, so the policy follows the pack the judge is
given: its public top-level names, and the private attribute names its classes
define (a submission may read ``Value._children``).
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

from .modules import PACK_MODULES
from .scope import _Scopes, parse


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
            collector = _Scopes(tree)
            collector.collect()
            private |= collector.defined_private
        names[module] = frozenset(n for n in found if not n.startswith("_"))
    return _Pack(names, frozenset(private))
