"""The source policy: escape hatches are refused with a line, ordinary code passes."""

from __future__ import annotations

import ast
import builtins
import importlib
import types
from pathlib import Path

import pytest
from solutions.mutations import MUTATIONS, apply, base_source
from support import REFERENCE, REPO, SKELETON, SOLUTIONS

from grader import policy
from grader.policy import (
    ALLOWED_MODULES,
    MAX_SOURCE_BYTES,
    allowed_modules_text,
    check_source,
    find_violations,
    module_names,
    too_large,
)

PACK = REPO / "student_template"


def verdict(source: str):
    return check_source(source.encode(), pack_dir=PACK)


# (source, line of the first violation, words of its message)
ESCAPES = [
    # modules that are not allowed, and names modules must not expose
    ("import os", 1, "import os"),
    ("import subprocess as sp", 1, "subprocess"),
    ("from os import path", 1, "from os"),
    ("import random\nx = random._os", 2, "private attribute"),
    ("import random as r\nx = r._inst", 2, "private attribute"),
    ("import typing\nx = typing.sys", 2, "module sys"),
    ("from typing import sys", 1, "module sys"),
    ("import dataclasses\nx = dataclasses.sys", 2, "module sys"),
    ("from random import _os", 1, "private attribute"),
    ("from . import engine", 1, "relative imports"),
    ("import engine\nx = engine.math", 2, "pack's API"),
    ("from nn import _collect", 1, "pack's API"),
    ("from math import *", 1, "import *"),
    ("from engine import *", 1, "import *"),
    ("class C:\n    import math", 2, "class body"),
    # modules must not become values
    ("import random\nr = random\nx = r._os", 2, "is a module"),
    ("import random\ndef f(m):\n    return m\nf(random)", 4, "is a module"),
    ("import math\nmods = [math]", 2, "is a module"),
    ("import math\nok = math == 1", 2, "is a module"),
    ("import collections\nc = collections.abc", 2, "is a module"),
    ("from collections import abc\nx = abc", 2, "is a module"),
    # imported names are never rebound, modules and classes never patched
    ("import math\nmath = 3", 2, "name of an import"),
    ("import math\nfor math in range(3):\n    pass", 2, "name of an import"),
    ("import math\n(math := 1)", 2, "name of an import"),
    ("from engine import Value\ndef f(Value):\n    pass", 2, "name of an import"),
    ("from engine import Value\nclass Value:\n    pass", 2, "name of an import"),
    ("import random as r\nimport math as r", 2, "imported twice"),
    ("import random\nrandom.random = lambda: 0.5", 2, "changing `random.random`"),
    ("import math\nmath.pi += 1", 2, "changing `math.pi`"),
    ("from engine import Value\nValue.backward = lambda self: None", 2, "changing"),
    ("from nn import Module\nModule.parameters = lambda self: []", 2, "changing"),
    ("import nn\nnn.Module.parameters = None", 2, "changing"),
    ("from engine import Value\ndel Value.backward", 2, "changing"),
    ("from engine import Value\nsetattr(Value, 'backward', None)", 2, "setattr"),
    ("from nn import Linear\nLinear.cache[0] = 1", 2, "changing"),
    # builtins outside the allowlist, wherever they appear
    ("x = eval('1')", 1, "`eval`"),
    ("exec('x = 1')", 1, "`exec`"),
    ("c = compile('1', 'f', 'eval')", 1, "`compile`"),
    ("f = open('/etc/passwd')", 1, "`open`"),
    ("m = __import__('os')", 1, "__import__"),
    ("g = globals()", 1, "`globals`"),
    ("v = vars()", 1, "`vars`"),
    ("m = memoryview(b'')", 1, "`memoryview`"),
    ("b = __builtins__", 1, "__builtins__"),
    ("breakpoint()", 1, "breakpoint"),
    ("exit(0)", 1, "`exit`"),
    ("help()", 1, "`help`"),
    ("x = [0 for eval in [eval]]", 1, "`eval`"),
    ("isinstance = lambda a, b: True", 1, "`isinstance`"),
    ("def f(type):\n    return type", 1, "`type`"),
    # getattr family
    ("x = getattr(object, '__subclasses__')", 1, "literal, non-dunder"),
    ("name = 'x'\nv = getattr(object, name)", 2, "literal, non-dunder"),
    ("def g():\n    yield\nf = getattr(g(), 'gi_frame')", 3, "gi_frame"),
    ("ga = getattr", 1, "called directly"),
    ("setattr(object(), 'x' + 'y', 1)", 1, "literal"),
    ("delattr(object(), 'x')", 1, "delattr"),
    ("f = getattr('', 'format')", 1, "string literal"),
    # dunder attributes and names
    ("x = ().__class__.__base__.__subclasses__()", 1, "__base__"),
    ("def f():\n    pass\ng = f.__globals__", 3, "__globals__"),
    ("def f():\n    pass\nc = f.__code__", 3, "__code__"),
    ("x = object.__setattr__(1, 'a', 2)", 1, "__setattr__"),
    ("class A:\n    def f(self):\n        return super().__getattribute__('x')", 3, "__getattr"),
    ("class A:\n    pass\nA.__init__ = None", 3, "assigning or deleting"),
    ("x = __loader__", 1, "__loader__"),
    ("s = __spec__", 1, "__spec__"),
    ("__annotations__['x'] = 1", 1, "__annotations__"),
    ("class A:\n    def f(self):\n        return __class__", 3, "__class__"),
    ("def f():\n    global __builtins__", 2, "__builtins__"),
    ("def __getattr__(name):\n    return 1", 1, "module-level function"),
    ("class C:\n    def __reduce_ex__(self, p):\n        return (print, ('x',))", 2, "copied"),
    ("class C:\n    __reduce__ = None", 2, "copied"),
    ("class C:\n    __module__ = 'os'", 2, "may not be defined"),
    # __dict__ only where its value is consumed at once
    ("class A:\n    def f(self):\n        return self.__dict__", 3, "__dict__"),
    ("d = object.__dict__['__getattribute__']", 1, "__dict__"),
    ("class A:\n    def k(self):\n        return self.__dict__.keys().mapping", 3, "__dict__"),
    (
        "class A:\n    def __eq__(self, o):\n        return self.__dict__ == o.__dict__",
        3,
        "__dict__",
    ),
    # type() and __class__: no metaclass ever becomes a value
    ("X = type('X', (), {})", 1, "one argument"),
    ("T = type(type(0))", 1, "type(x)"),
    ("k = (0).__class__.__class__", 1, "__class__"),
    ("class A:\n    def new(self):\n        return type(self)(1)", 3, "type(x)"),
    ("def f(x, spy):\n    return type(x) == spy", 2, "compared"),
    ("def f(x, box):\n    return x.__class__ in box", 2, "compared"),
    ("class M(type):\n    pass", 1, "`type`"),
    ("def f(x: type[int]):\n    pass", 1, "`type`"),
    ("class A(metaclass=object):\n    pass", 1, "metaclass"),
    ("class C(**kw):\n    pass", 1, "metaclass"),
    ("from abc import ABCMeta", 1, "metaclass"),
    ("from typing import Type", 1, "metaclass"),
    ("import typing\nclass M(typing.Type):\n    pass", 2, "metaclass"),
    # library helpers that evaluate strings, read attributes by name or build classes
    ("from typing import get_type_hints", 1, "evaluates code"),
    ("import typing\nh = typing.get_type_hints(object)", 2, "evaluates code"),
    ("from typing import ForwardRef", 1, "evaluates code"),
    ("from typing import get_args", 1, "strings"),
    ("from typing import TypedDict", 1, "builds classes"),
    ("from functools import singledispatch", 1, "annotations"),
    ("import functools\n@functools.singledispatch\ndef f(x):\n    pass", 2, "annotations"),
    ("from functools import wraps", 1, "copies attributes"),
    ("import operator\nf = operator.attrgetter('x')", 2, "reads attributes"),
    ("import operator\nf = operator.methodcaller('x')", 2, "calls methods"),
    ("from dataclasses import make_dataclass", 1, "builds classes"),
    ("from dataclasses import fields", 1, "field objects"),
    ("from enum import global_enum", 1, "other modules"),
    # private names: only the submission's own, never the standard library's
    ("x = object()\ny = x._secret", 2, "does not define"),
    ("import random\nr = random.Random()\nn = r._randbelow(3)", 3, "internal name"),
    ("class C:\n    def _evaluate(self):\n        pass", 2, "internal name"),
    ("class C:\n    _convert_ = 1", 2, "internal name"),
    (
        "import typing\nclass C:\n    x = 1\n    def f(self, r):\n        return r._evaluate()",
        5,
        "internal",
    ),
    ("match 1:\n    case int(_os=v):\n        pass", 2, "does not define"),
    # Enum: no functional API, no memberless classes that could be called with names
    ("import enum\nX = enum.Enum._convert_('X', 'os', bool)", 2, "internal name"),
    ("from enum import Enum\nColor = Enum('Color', 'RED GREEN')", 2, "base class"),
    ("from enum import Enum\nE = Enum", 2, "base class"),
    ("from enum import Enum\nclass Base(Enum):\n    pass", 2, "at least one member"),
    ("from enum import Enum\nclass E(Enum):\n    _ignore_ = ['A']\n    A = 1", 3, "_ignore_"),
    # dataclass writes field names into code it runs: decorator only, fields untouched
    ("from dataclasses import dataclass\nclass C:\n    pass\nD = dataclass(C)", 4, "decorator"),
    (
        "from dataclasses import dataclass\n@dataclass(**{})\nclass C:\n    x: int = 0",
        2,
        "decorator",
    ),
    ("from dataclasses import field\nf = field()", 2, "`field(...)`"),
    ("from dataclasses import dataclass, field\nclass C:\n    x: int = field()", 3, "field"),
    (
        "from dataclasses import dataclass, field\n@dataclass\nclass C:\n"
        "    x: int = field(default=1)\n    y = x",
        5,
        "dataclass field",
    ),
    # ... nor can a hook see the class while it still holds its Field objects
    ("class Base:\n    def __init_subclass__(cls):\n        pass", 2, "may not be defined"),
    ("class D:\n    def __set_name__(self, owner, name):\n        pass", 2, "may not be defined"),
    ("class D:\n    def __get__(self, obj, owner):\n        return owner", 2, "may not be defined"),
    ("class A:\n    def __subclasshook__(cls, c):\n        return True", 2, "may not be defined"),
    (
        "from dataclasses import dataclass, field\ndef spy(c):\n    return c\n"
        "@dataclass\n@spy\nclass C:\n    x: int = field(default=1)",
        6,
        "directly above the class",
    ),
    (
        "from dataclasses import dataclass\nfrom enum import Enum\n@dataclass\n"
        "class E(Enum):\n    A = 1",
        4,
        "Enum or NamedTuple",
    ),
    # match class patterns do getattr
    ("match 1:\n    case int(__class__=c):\n        pass", 2, "__class__"),
    (
        "def g():\n    yield 1\nmatch g():\n    case object(gi_frame=f):\n        pass",
        4,
        "gi_frame",
    ),
    (
        "class P:\n    __match_args__ = ('gi_frame',)\nmatch 1:\n    case P(f):\n        pass",
        4,
        "positional",
    ),
    ("match '':\n    case str(format=f):\n        pass", 2, "string literal"),
    # frames, tracebacks, code objects, cells
    ("g = (i for i in [1])\nf = g.gi_frame.f_globals", 2, "gi_frame"),
    ("g = (i for i in [1])\nc = g.gi_code", 2, "gi_code"),
    ("try:\n    1 / 0\nexcept Exception as e:\n    tb = e.__traceback__", 4, "__traceback__"),
    ("def f(tb):\n    return tb.tb_frame", 2, "tb_frame"),
    ("def f(fr):\n    return fr.f_back", 2, "f_back"),
    ("def f(c):\n    return c.cell_contents", 2, "cell_contents"),
    ("try:\n    pass\nexcept AttributeError as e:\n    o = e.obj", 4, "`obj`"),
    # strings that something evaluates
    ("def f(x: \"__import__('os').system('id')\"):\n    pass", 1, "__import__"),
    ("x: 'not valid python!' = 1", 1, "valid type expression"),
    ("from typing import List\ny: List[\"open('/etc/passwd')\"] = []", 2, "`open`"),
    ("def f() -> 'eval(\"1\")':\n    pass", 1, "`eval`"),
    ("s = '{0.__class__}'.format(1)", 1, "format field"),
    ("s = '{0[k]}'.format({})", 1, "format field"),
    ("s = '{a.b}'.format_map({})", 1, "format field"),
    ("s = '{0:{1.__class__}}'.format(1, 2)", 1, "format field"),
    ("t = '{0}'\ns = t.format(1)", 2, "string literal"),
    ("f = str.format", 1, "string literal"),
    ("f = '{}'.format", 1, "string literal"),
    # syntax outside the allowlist
    ("async def f():\n    pass", 1, "`async def`"),
    ("async def f():\n    await g()", 1, "`async def`"),
    ("try:\n    pass\nexcept* ValueError:\n    pass", 1, "except*"),
]


@pytest.mark.parametrize(("source", "line", "words"), ESCAPES)
def test_escapes_are_refused_with_their_line(source: str, line: int, words: str) -> None:
    error = verdict(source)
    assert error is not None, source
    assert error.kind == "policy"
    assert error.line == line
    assert words in error.message


ORDINARY = [
    "def forward(self, input):\n    return [x * 2 for x in input]",  # PyTorch's parameter name
    "names = dir(1)",
    "import math, random\nfrom typing import List, Optional\nx: List[int] = []",
    "from engine import Value\nfrom nn import Module, Linear\nimport nn\nL = nn.Linear",
    "import collections.abc\nfrom collections import defaultdict, abc\n"
    "S = collections.abc.Sequence\nM = abc.Mapping",
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
    # module metadata and docstrings
    '"""My Mini-GPT."""\n__all__ = ["MiniGPT"]\n__version__ = "0.1"\n__author__ = "Ada"\n'
    '__license__ = "MIT"',
    # dataclasses, with and without postponed annotations
    "from __future__ import annotations\nfrom dataclasses import dataclass, field\n"
    "@dataclass(frozen=True)\nclass Config:\n    vocab_size: int = 27\n"
    "    layers: list[int] = field(default_factory=list)",
    "import dataclasses\n@dataclasses.dataclass\nclass P:\n    x: float\n    y: float = 0.0\n"
    "    def __post_init__(self):\n        self.x = float(self.x)\n"
    "p = dataclasses.replace(P(1.0), y=2.0)\nd = dataclasses.asdict(p)",
    # match statements
    "from dataclasses import dataclass\n@dataclass\nclass Point:\n    x: int\n    y: int\n"
    "def where(p):\n    match p:\n        case Point(x=0, y=yy):\n            return yy\n"
    "        case int(n) | float(n):\n            return n\n"
    "        case [a, b, *rest]:\n            return a\n"
    "        case {'k': v, **others}:\n            return v\n"
    "        case str() as s if s:\n            return s\n"
    "        case None:\n            return 0\n        case _:\n            return -1",
    # f-strings and formatting
    "x, width = 3.14159, 10\ns = f'{x:.3f} {x!r:>12} {x:{width}.2f} {x=}'",
    "a = '{} and {:>5}'.format(1, 2)\nb = '{name}: {0!r}'.format(3, name='x')\n"
    "c = '{0:{1}}'.format(3.14, '.2f')\nd = '%s=%d' % ('x', 3)\ne = format(3.14159, '.2f')",
    # type hints
    "import typing\nfrom typing import List, Optional, Sequence, Callable, Literal\n"
    "from engine import Value\n"
    "def f(a: List[int], b: Optional['Value'] = None, c: Sequence[float] = (),\n"
    "      d: Callable[[int], int] | None = None) -> 'list[Value]':\n    return []\n"
    "mode: Literal['train mode', 'eval'] = 'eval'\nv: int | None = None\nT = typing.TypeVar('T')",
    "from typing import Generic, Protocol, TypeVar, NamedTuple, runtime_checkable\n"
    "T = TypeVar('T')\nclass Box(Generic[T]):\n    def __init__(self, item: T) -> None:\n"
    "        self.item = item\n@runtime_checkable\nclass HasForward(Protocol):\n"
    "    def forward(self, x: list) -> list: ...\nclass Pair(NamedTuple):\n    a: int\n"
    "    b: int = 0\np = Pair(1)._replace(b=2)\nd = p._asdict()",
    "from typing import TYPE_CHECKING, cast\nif TYPE_CHECKING:\n    from engine import Value\n"
    "x = cast(int, 3)",
    # classes: repr, types, __dict__, special methods, slots, private names
    "from nn import Module\nclass A(Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self._cache = {}\n    def show(self):\n"
    "        print(self.__dict__, len(self.__dict__), sorted(self.__dict__))\n"
    "        return type(self).__name__, self._cache\n    def same(self, other):\n"
    "        return type(self) == type(other) or type(other) in (int, float) "
    "or type(other) is A or isinstance(other, type(self))",
    "class V:\n    def __init__(self, x):\n        self.x = x\n    def __add__(self, other):\n"
    "        return V(self.x + other.x)\n    __radd__ = __add__\n"
    "    def __eq__(self, other):\n        return isinstance(other, V) and self.x == other.x\n"
    "    __hash__ = None",
    "class Node:\n    __slots__ = ('data', '_grad', '__weakref__')\n"
    "    def __init__(self, data):\n        self.data = data\n        self._grad = 0.0\n"
    "    def grad(self):\n        return self._grad",
    "class Secret:\n    def __init__(self):\n        self.__hidden = 1\n"
    "    def get(self):\n        return self.__hidden",
    "class A:\n    def __init__(self, n):\n        object.__init__(self)\n        self.n = n\n"
    "    def __len__(self):\n        return self.n\n    def __iter__(self):\n"
    "        return iter(range(self.n))\n    def __getitem__(self, i):\n        return i\n"
    "    def __enter__(self):\n        return self\n    def __exit__(self, *exc):\n"
    "        return False\nwith A(2) as a:\n    n = len(a)",
    "import functools\nclass C:\n    @functools.lru_cache(maxsize=None)\n    def f(self, n):\n"
    "        return n\n    @property\n    def p(self):\n        return 1\n    @staticmethod\n"
    "    def s():\n        return 2\n    @classmethod\n    def c(cls):\n        return cls()\n"
    "    @functools.cached_property\n    def big(self):\n        return 3",
    "from abc import ABC, abstractmethod\nclass Base(ABC):\n    @abstractmethod\n"
    "    def forward(self, x):\n        ...",
    # the pack
    "from engine import Value\nfrom nn import Module, Linear\nclass M(Module):\n"
    "    def __init__(self):\n        self.lin = Linear(2, 2)\nmodel = M()\n"
    "ok = isinstance(model, Module)\nT = getattr(model, 'max_seq_len', 8)\n"
    "setattr(model, 'max_seq_len', 4)\nhas = hasattr(model, 'lin')\n"
    "s = Value.sum([Value(1.0), Value(2.0)])\nkids = [c for c in s._children]",
    "from engine import Value\ndef softmax(xs: 'list[Value]') -> 'list[Value]':\n"
    "    m = max(x.data for x in xs)\n    es = [(x - m).exp() for x in xs]\n"
    "    s = Value.sum(es)\n    return [e / s for e in es]",
    # the allowed modules
    "import random, math, functools, itertools, collections, operator\n"
    "xs = [random.gauss(0.0, 1.0) for _ in range(4)]\n"
    "pick = random.choices(range(4), weights=[1, 2, 3, 4])[0]\ne = math.exp(1.0)\n"
    "total = functools.reduce(operator.add, xs)\nacc = list(itertools.accumulate(xs))\n"
    "counts = collections.defaultdict(int)\n"
    "for i, (a, b) in enumerate(zip(xs, acc, strict=True)):\n    counts[i] += 1",
    "import copy, heapq, bisect\nfrom fractions import Fraction\n"
    "from decimal import Decimal, localcontext\nh = []\nheapq.heappush(h, 3)\n"
    "i = bisect.bisect_left([1, 2, 3], 2)\nc = copy.deepcopy([[1], [2]])\n"
    "q = Fraction(1, 3) + Fraction(1, 6)\nwith localcontext() as ctx:\n    ctx.prec = 5\n"
    "    z = Decimal(1) / Decimal(7)",
    "from enum import Enum, IntEnum, auto, unique\n@unique\nclass Color(Enum):\n    RED = 1\n"
    "    GREEN = auto()\n    def label(self):\n        return self.name.lower()\n"
    "class Level(IntEnum):\n    LOW = 0\n"
    "ok = isinstance(Color.RED, Enum) and Color(1) is Color.RED and Color.RED._value_ == 1",
    # control flow, functions, exceptions
    "def check(n):\n    if n < 1:\n        raise ValueError(f'n must be positive, got {n}')\n"
    "    assert n < 100, 'too big'\n    try:\n        return 1 / n\n"
    "    except (ZeroDivisionError, TypeError) as exc:\n        print(exc.args)\n        raise\n"
    "    finally:\n        pass",
    "class MyError(Exception):\n    pass\ndef f():\n    raise MyError('bad') from None",
    "sq = lambda t: t * t\ngen = (sq(t) for t in range(3) if t > 0)\n"
    "def squares(n):\n    yield from (i * i for i in range(n))\n"
    "if (k := len([1, 2])) > 1:\n    pass\nd = {i: i for i in range(3)}\ns = {i for i in range(3)}",
    "counter = 0\ndef outer():\n    count = 0\n    def inner():\n        nonlocal count\n"
    "        count += 1\n        return count\n    global counter\n    counter += 1\n"
    "    return inner",
    "total = sum([1, 2, 3])\nbest = max(1, 2)\nfor _ in range(3):\n    pass\ndel total",
    "import math\ndef gelu(x: float) -> float:\n"
    "    return 0.5 * x * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))",
]


@pytest.mark.parametrize("source", ORDINARY)
def test_ordinary_code_passes(source: str) -> None:
    assert verdict(source) is None


def _must_pass() -> list[Path]:
    return [REFERENCE, SKELETON, *sorted(SOLUTIONS.glob("correct_*.py"))]


@pytest.mark.parametrize("path", _must_pass(), ids=lambda p: p.name)
def test_every_correct_solution_passes(path: Path) -> None:
    assert check_source(path.read_bytes(), pack_dir=PACK) is None


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.id)
def test_every_bank_mutation_passes(mutation) -> None:
    """A buggy but honest submission is graded, not refused."""
    source = apply(mutation, base_source(mutation))
    assert check_source(source.encode(), pack_dir=PACK) is None


def test_several_violations_are_listed() -> None:
    error = verdict("import os\nimport sys\nx = eval('1')")
    assert error is not None
    assert "line 1" in error.message and "line 2" in error.message and "line 3" in error.message
    assert "import only" in error.message


def test_at_most_five_violations_are_listed() -> None:
    error = verdict("\n".join(f"x{i} = eval('{i}')" for i in range(8)))
    assert error is not None and error.line == 1
    assert "line 5:" in error.message and "line 6:" not in error.message
    assert "(and 3 more)" in error.message


def test_violations_come_in_source_order() -> None:
    tree = ast.parse("def f():\n    return open\nx = eval\nimport os")
    lines = [v.line for v in find_violations(tree, pack_dir=PACK)]
    assert lines == sorted(lines) == [2, 3, 4]


def test_limits_and_encoding() -> None:
    assert check_source(b"x = 1\n" * 10, max_bytes=20) is not None
    assert check_source("x = 'é'\n".encode()) is None
    assert check_source("\ufeffx = 1\n".encode()) is None, "a UTF-8 BOM is fine"
    error = check_source(b"x = 1\ny = '\xff'\n")
    assert error is not None and error.line == 2 and "UTF-8" in error.message


@pytest.mark.parametrize(
    ("raw", "kind", "words"),
    [
        (b"", "policy", "empty"),
        (b"  \n\n", "policy", "empty"),
        (b"x = 1\0", "policy", "NUL"),
        (b"x = 1\ndef f(:\n", "syntax", "line 2"),
        (b"x = 1" + b"+1" * 45_000, "policy", "nested too deeply"),
        (b"x = " + b"-" * 90_000 + b"1", "policy", "nested too deeply"),
        (b"a" + b".b" * 40_000 + b" = 1", "policy", "nested too deeply"),
    ],
)
def test_malformed_files_are_refused(raw: bytes, kind: str, words: str) -> None:
    error = check_source(raw)
    assert error is not None and error.kind == kind and words in error.message


def test_too_large_names_the_limit() -> None:
    error = check_source(b"#" * (MAX_SOURCE_BYTES + 1))
    assert error is not None and error == too_large(MAX_SOURCE_BYTES + 1, MAX_SOURCE_BYTES)
    assert "100,000" in error.message


def test_pack_api_is_read_from_the_pack(tmp_path: Path) -> None:
    (tmp_path / "engine.py").write_text("class Value:\n    pass\nclass Extra:\n    pass\n")
    (tmp_path / "nn.py").write_text("def helper():\n    pass\n")
    assert check_source(b"from engine import Extra", pack_dir=tmp_path) is None
    assert check_source(b"from nn import Module", pack_dir=tmp_path) is not None
    assert module_names("engine", tmp_path) == {"Value", "Extra"}


def test_a_missing_pack_allows_nothing_from_it(tmp_path: Path) -> None:
    error = check_source(b"from engine import Value", pack_dir=tmp_path)
    assert error is not None and "pack's API" in error.message


def test_the_default_pack_is_the_template() -> None:
    assert check_source(b"from engine import Value\nfrom nn import Module, Linear") is None
    assert module_names("nn") == {"Module", "Linear"}


# The allowlists themselves ----------------------------------------------------------


def test_every_allowed_module_name_exists_and_is_harmless() -> None:
    """A missing name would raise AttributeError holding the module; none may be one."""
    for module in sorted(ALLOWED_MODULES - {"engine", "nn"}):
        mod = importlib.import_module(module)
        names = module_names(module)
        assert names or module == "collections", module
        for name in names:
            value = getattr(mod, name)
            assert not isinstance(value, types.ModuleType), f"{module}.{name}"
            assert not (isinstance(value, type) and issubclass(value, type)), f"{module}.{name}"
            assert not name.startswith("_")


def test_no_allowed_name_exposes_a_module_or_metaclass_one_level_down() -> None:
    for module in sorted(ALLOWED_MODULES - {"engine", "nn"}):
        mod = importlib.import_module(module)
        for name in module_names(module):
            value = getattr(mod, name)
            for attr in dir(value):
                if attr.startswith("_"):
                    continue
                try:
                    inner = getattr(value, attr)
                except Exception:
                    continue
                assert not isinstance(inner, types.ModuleType), f"{module}.{name}.{attr}"
                metaclass = isinstance(inner, type) and issubclass(inner, type)
                assert not metaclass, f"{module}.{name}.{attr}"


def test_refused_helpers_stay_refused() -> None:
    refused = {
        "typing": {"get_type_hints", "ForwardRef", "get_args", "get_origin", "Type", "TypedDict"},
        "functools": {"singledispatch", "singledispatchmethod", "update_wrapper", "wraps"},
        "operator": {"attrgetter", "methodcaller"},
        "dataclasses": {"make_dataclass", "fields", "Field"},
        "enum": {"EnumMeta", "EnumType", "global_enum"},
        "abc": {"ABCMeta"},
    }
    for module, names in refused.items():
        assert not names & module_names(module), module


def test_reflective_attributes_cover_frames_code_and_generators() -> None:
    def gen():
        yield 1

    frame_like = [types.FrameType, types.CodeType, types.TracebackType, type(gen())]
    names = {n for t in frame_like for n in dir(t) if not n.startswith("_")}
    assert names - {"close", "send", "throw", "clear", "replace"} <= policy.REFLECTIVE_ATTRS
    assert {"gi_frame", "f_globals", "f_back", "tb_frame", "co_code", "cell_contents"} <= (
        policy.REFLECTIVE_ATTRS
    )


def test_builtin_allowlist_leaves_out_every_escape_hatch() -> None:
    hatches = {
        "eval",
        "exec",
        "compile",
        "open",
        "__import__",
        "__build_class__",
        "globals",
        "locals",
        "vars",
        "breakpoint",
        "help",
        "exit",
        "quit",
        "memoryview",
        "delattr",
        "getattr",
        "setattr",
        "aiter",
        "anext",
    }
    assert not hatches & policy.ALLOWED_BUILTINS
    assert hatches - {"exit", "quit", "help"} <= set(dir(builtins))


def test_async_and_unknown_syntax_is_outside_the_node_allowlist() -> None:
    for name in ("AsyncFunctionDef", "Await", "AsyncFor", "AsyncWith", "TryStar", "TypeAlias"):
        node = getattr(ast, name, None)
        assert node is None or node not in policy.ALLOWED_NODES, name


def test_library_private_names_include_known_gadgets() -> None:
    assert {"_convert_", "_create_", "_evaluate", "_randbelow"} <= policy.LIBRARY_PRIVATE


def test_allowed_modules_text() -> None:
    text = allowed_modules_text()
    assert "math" in text and "engine" in text and "__future__" not in text


def test_sources_are_checked_safely_from_several_threads() -> None:
    """`grade batch` checks sources in threads. On CPython 3.11 before 3.11.8 two parses
    at once could fail with "AST constructor recursion depth mismatch" when a garbage
    collection inside one let the other run; collections here are made frequent and
    yield the GIL, which made that failure show about once in 200 parses."""
    import gc
    import threading
    import time

    raw = REFERENCE.read_bytes()
    errors: list[BaseException] = []

    def check_many() -> None:
        for _ in range(60):
            try:
                assert check_source(raw, pack_dir=PACK) is None
            except BaseException as exc:
                errors.append(exc)

    def switch(phase: str, info: dict[str, int]) -> None:
        time.sleep(0)

    threshold = gc.get_threshold()
    gc.callbacks.append(switch)
    gc.set_threshold(50)
    try:
        threads = [threading.Thread(target=check_many) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        gc.callbacks.remove(switch)
        gc.set_threshold(*threshold)
    assert errors == []
