"""The source policy: escape hatches are refused with a line, ordinary code passes."""

from __future__ import annotations

import pytest
from conftest import REFERENCE, REPO, SOLUTIONS

from grader.policy import check_source

PACK = REPO / "student_template"


def verdict(source: str):
    return check_source(source.encode(), pack_dir=PACK)


ESCAPES = [
    ("import os", 1, "import os"),
    ("import subprocess as sp", 1, "subprocess"),
    ("from os import path", 1, "from os"),
    ("import random\nx = random._os", 2, "private attribute"),
    ("import random as r\nx = r._inst", 2, "private attribute"),
    ("import typing\nx = typing.sys", 2, "module sys"),
    ("from typing import sys", 1, "module sys"),
    ("import dataclasses\nx = dataclasses.sys", 2, "module sys"),
    ("x = eval('1')", 1, "`eval`"),
    ("exec('x = 1')", 1, "`exec`"),
    ("f = open('/etc/passwd')", 1, "`open`"),
    ("m = __import__('os')", 1, "__import__"),
    ("g = globals()", 1, "`globals`"),
    ("b = __builtins__", 1, "__builtins__"),
    ("x = ().__class__.__base__.__subclasses__()", 1, "__base__"),
    ("def f(): pass\ng = f.__globals__", 2, "__globals__"),
    ("x = getattr(object, '__subclasses__')", 1, "literal, non-dunder"),
    ("name = 'x'\nv = getattr(object, name)", 2, "literal, non-dunder"),
    ("g = (i for i in [1])\nf = g.gi_frame.f_globals", 2, "gi_frame"),
    ("from typing import get_type_hints", 1, "evaluates code"),
    ("import operator\nf = operator.attrgetter('x')", 2, "arbitrary attributes"),
    ("s = '{0.__class__}'.format(1)", 1, "interpreter internals"),
    ("from . import engine", 1, "relative imports"),
    ("import engine\nx = engine.math", 2, "pack's API"),
    ("breakpoint()", 1, "breakpoint"),
    ("exit(0)", 1, "`exit`"),
]


@pytest.mark.parametrize(("source", "line", "words"), ESCAPES)
def test_escapes_are_refused_with_their_line(source: str, line: int, words: str) -> None:
    error = verdict(source)
    assert error is not None, source
    assert error.kind == "policy"
    assert error.line == line
    assert words in error.message


ORDINARY = [
    "import math, random\nfrom typing import List, Optional\nx: List[int] = []",
    "from engine import Value\nfrom nn import Module, Linear\nimport nn\nL = nn.Linear",
    "import collections.abc\nfrom collections import defaultdict, abc\n"
    "S = collections.abc.Sequence",
    "from dataclasses import dataclass, field\n@dataclass\nclass C:\n    x: int = field(default=1)",
    "import functools, itertools, operator\ns = functools.reduce(operator.add, [1, 2])",
    "class A:\n    def __init__(self):\n        super().__init__()\n"
    "        n = self.__class__.__name__",
    "class A:\n    def __repr__(self):\n        return f'A({self.__dict__})'",
    "x = getattr(object(), 'max_seq_len', 8)\nhasattr(x, 'data')",
    "if __name__ == '__main__':\n    print('training...')",
    "import statistics\nm = statistics.mean([1.0, 2.0])",
    "from __future__ import annotations\nimport math as m\ny = m.sqrt(2)",
    "raise ValueError('T must not exceed max_seq_len')",
]


@pytest.mark.parametrize("source", ORDINARY)
def test_ordinary_code_passes(source: str) -> None:
    assert verdict(source) is None


@pytest.mark.parametrize(
    "path", [REFERENCE, *sorted(SOLUTIONS.glob("correct_*.py"))], ids=lambda p: p.name
)
def test_every_correct_solution_passes(path) -> None:
    assert check_source(path.read_bytes(), pack_dir=PACK) is None


def test_several_violations_are_listed() -> None:
    error = verdict("import os\nimport sys\nx = eval('1')")
    assert error is not None
    assert "line 1" in error.message and "line 2" in error.message and "line 3" in error.message


def test_limits_and_encoding() -> None:
    assert check_source(b"x = 1\n" * 10, max_bytes=20) is not None
    assert check_source("x = 'é'\n".encode()) is None
    assert check_source("\ufeffx = 1\n".encode()) is None, "a UTF-8 BOM is fine"
    error = check_source(b"x = 1\ny = '\xff'\n")
    assert error is not None and error.line == 2 and "UTF-8" in error.message
