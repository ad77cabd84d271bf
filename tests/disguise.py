"""What a student who copies does to hide it: rename, reorder, reformat.

Used by the similarity tests (a planted copy must still be found) and by the
similarity benchmark (500 varied submissions made from the bank). Works on
the syntax tree, so the result still parses and means the same thing.
"""

from __future__ import annotations

import ast
import builtins
import random

from grader.worker.main import CLASSES, FUNCTIONS

# Names the tests call, and the pack's own attributes: renaming them would change the API.
KEPT = frozenset(
    [
        *CLASSES,
        *FUNCTIONS,
        "forward",
        "parameters",
        "max_seq_len",
        "vocab_size",
        "embed_dim",
        "num_heads",
        "num_layers",
        "Value",
        "Module",
        "Linear",
        "data",
        "grad",
        "exp",
        "log",
        "tanh",
        "relu",
        "sum",
        "dot",
        "backward",
        "zero_grad",
        "weight",
        "bias",
        "in_features",
        "out_features",
        "self",
        "cls",
        "annotations",
    ]
)
WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "omega",
    "rows",
    "cols",
    "acc",
    "tmp",
    "buf",
    "item",
    "part",
    "piece",
    "val",
    "node",
    "unit",
    "cell",
    "hidden",
    "state",
    "signal",
    "layer",
    "block",
    "step",
    "size",
    "width",
    "depth",
    "scale",
    "total",
    "count",
    "head",
    "tail",
    "mix",
]


def _own_names(tree: ast.Module) -> set[str]:
    """Names the file itself chose: assigned variables, self attributes, its functions."""
    own: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            own.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            own.add(node.attr)
        elif isinstance(node, ast.FunctionDef):
            own.add(node.name)
    protected = set(KEPT) | set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            protected.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.arg):
            protected.add(node.arg)  # callers may pass arguments by keyword
        elif isinstance(node, ast.ClassDef):
            protected.add(node.name)
    return {name for name in own - protected if not name.startswith("__")}


class _Renamer(ast.NodeTransformer):
    """Renames each of the file's own names the same way wherever it appears."""

    def __init__(self, rng: random.Random, own: set[str]) -> None:
        words = [f"{rng.choice(WORDS)}_{i}" for i in range(len(own))]
        self.mapping = dict(zip(sorted(own), words, strict=True))

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self.mapping.get(node.id, node.id)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        node.attr = self.mapping.get(node.attr, node.attr)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self.generic_visit(node)
        node.name = self.mapping.get(node.name, node.name)
        return node


def _shuffle_definitions(body: list[ast.stmt], rng: random.Random) -> list[ast.stmt]:
    """Functions and classes in another order; everything else keeps its place."""
    slots = [i for i, stmt in enumerate(body) if isinstance(stmt, ast.FunctionDef | ast.ClassDef)]
    moved = [body[i] for i in slots]
    rng.shuffle(moved)
    result = list(body)
    for i, stmt in zip(slots, moved, strict=True):
        result[i] = stmt
    return result


def _drop_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef):
            body = node.body
            if (
                len(body) > 1
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                del body[0]


def disguise(source: str, seed: int) -> str:
    """``source`` with its own names renamed, its methods and functions reordered, comments
    and docstrings gone and the layout redone (``ast.unparse``)."""
    rng = random.Random(seed)
    tree = ast.parse(source)
    _drop_docstrings(tree)
    tree = _Renamer(rng, _own_names(tree)).visit(tree)
    assert isinstance(tree, ast.Module)
    tree.body = _shuffle_definitions(tree.body, rng)
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            node.body = _shuffle_definitions(node.body, rng)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


class _Padder(ast.NodeTransformer):
    """Inserts a harmless statement after some statements of each function body."""

    def __init__(self, rng: random.Random, rate: float) -> None:
        self.rng = rng
        self.rate = rate

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self.generic_visit(node)
        body: list[ast.stmt] = []
        for stmt in node.body:
            body.append(stmt)
            if self.rng.random() < self.rate and not isinstance(stmt, ast.Return | ast.Raise):
                padding = f"_unused_{self.rng.randrange(1000)} = {self.rng.randrange(100)}"
                body.append(ast.parse(padding).body[0])
        node.body = body
        return node


def vary(source: str, seed: int, rate: float = 0.35) -> str:
    """``source`` with a harmless assignment after about ``rate`` of its statements.

    Independently written files differ everywhere; this makes files built from
    the same bank solution differ in many places too, as real students' would.
    """
    tree = _Padder(random.Random(seed), rate).visit(ast.parse(source))
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"
