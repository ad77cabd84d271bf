"""The set-up scripts' daemons must not keep what their caller had open.

`scripts/ensure-redis.sh`, `ensure-postgres.sh` and `ensure-docker.sh` start daemons
that outlive them. Started from `flock LOCK bash scripts/...` (how benchmarks and test
runs take turns here), a daemon that inherited the lock's descriptor would hold the
lock for as long as it runs, and every later `flock LOCK` would wait forever.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from support import REPO, free_port, postgres_bin, redis_server

SCRIPTS = REPO / "scripts"


def lock_is_free(path: Path) -> bool:
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def open_targets(pid: int) -> list[str]:
    folder = Path(f"/proc/{pid}/fd")
    return [os.readlink(entry) for entry in folder.iterdir() if int(entry.name) > 2]


def test_run_detached_closes_every_inherited_descriptor(tmp_path: Path) -> None:
    lock = tmp_path / "held.lock"
    # A caller that holds the lock on fd 9 starts a "daemon" and exits.
    script = f'exec 9>"{lock}"; flock 9; bash "{SCRIPTS}/run-detached.sh" sleep 60 '
    script += "</dev/null >/dev/null 2>&1 & echo $!"
    started = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, check=True, timeout=30
    )
    pid = int(started.stdout.split()[0])
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}/comm").read_text().strip() != "sleep":  # exec'd yet?
            assert time.monotonic() < deadline, "the command never started"
            time.sleep(0.05)
        assert open_targets(pid) == []
        assert os.getsid(pid) == pid  # a session of its own
        assert lock_is_free(lock)
    finally:
        os.kill(pid, 9)


def test_ensure_redis_under_flock_leaves_the_lock_free(tmp_path: Path) -> None:
    redis_server()
    port = free_port()
    lock = tmp_path / "bench.lock"
    env = {**os.environ, "REDIS_PORT": str(port), "REDIS_DIR": str(tmp_path / "redis")}
    subprocess.run(
        ["flock", str(lock), "bash", str(SCRIPTS / "ensure-redis.sh")],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
    )
    pid = int((tmp_path / "redis" / "redis.pid").read_text())
    try:
        assert str(lock) not in open_targets(pid)
        assert lock_is_free(lock)
    finally:
        subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(port), "shutdown", "nosave"],
            capture_output=True,
            timeout=30,
        )


def test_ensure_postgres_prints_its_url_tolerates_a_running_one_and_frees_the_lock(
    tmp_path: Path,
) -> None:
    """Under flock, twice: the second run finds the cluster up; the last line of stdout is
    the SQLAlchemy URL; the server listens on loopback only and holds no caller's lock."""
    import psycopg

    binaries = postgres_bin()
    port = free_port()
    lock = tmp_path / "bench.lock"
    folder = Path(tempfile.mkdtemp(prefix="grader-test-pg-"))  # reachable by `postgres`
    env = {**os.environ, "POSTGRES_PORT": str(port), "POSTGRES_DIR": str(folder)}
    run = ["flock", str(lock), "bash", str(SCRIPTS / "ensure-postgres.sh")]
    try:
        first = subprocess.run(run, env=env, check=True, timeout=120, capture_output=True,
                               text=True)  # fmt: skip
        again = subprocess.run(run, env=env, check=True, timeout=60, capture_output=True,
                               text=True)  # fmt: skip
        url = first.stdout.strip().splitlines()[-1]
        assert url == again.stdout.strip().splitlines()[-1]
        assert url.startswith("postgresql+psycopg://") and url.endswith(f"@127.0.0.1:{port}/grader")
        assert "starting" in first.stderr and "starting" not in again.stderr
        with psycopg.connect(url.replace("+psycopg", ""), connect_timeout=5) as connection:
            assert connection.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        pid = int((folder / "postmaster.pid").read_text().split()[0])
        assert str(lock) not in open_targets(pid)
        assert lock_is_free(lock)
    finally:
        owner = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        subprocess.run([*owner, str(binaries / "pg_ctl"), "-D", str(folder), "-m", "fast",
                        "stop"], capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)
