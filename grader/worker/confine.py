"""What the worker does to itself before the student's code runs (start-up only).

Loaded by ``main.py`` (from its own folder) in the fork server, after the fork
server's own set-up and before the submission is imported, so every line of
the student's code, at import and in every worker forked later, runs:

* as the OOM killer's first choice (``oom_score_adj`` 1000): memory the
  student's processes cause to be charged to the container is paid for by one
  of them, never by the judge, and the filter below keeps them from lowering it
  again (it refuses every open for writing);
* not dumpable: no process of the student's uid can read another's memory
  through ``/proc/PID/mem`` (a fork server learning what a worker saw);
* under a seccomp filter (libseccomp, through the ``pyseccomp`` bindings) that
  refuses, with EPERM, what a numeric model never calls: sockets, new pipes and
  every other object two workers forked from the same fork server could share
  (shared mappings, event and epoll descriptors, System V and POSIX IPC, locks,
  signals to another process), creating or writing any file, ptrace and
  reading other processes' memory, namespaces, mounts, keyrings, BPF,
  userfaultfd, perf events, io_uring, exec. The filter is inherited by every
  fork and cannot be removed.

The filter is a deny list: every call not named here behaves as before, so no
correct submission can meet a refusal the grader did not mean (an allow list
would have to foresee every call CPython and glibc may make on some path).
"""

from __future__ import annotations

import errno
import os
import sys

# Refused outright (EPERM), by what they would reach. Names unknown to this
# architecture (or to this libseccomp) are skipped.
REFUSED_GROUPS = {
    "sockets: their buffers are memory no process owns": "socket socketpair bind connect "
    "listen accept accept4 setsockopt",
    "other processes: their memory, descriptors, signals": "ptrace process_vm_readv "
    "process_vm_writev kcmp pidfd_open pidfd_getfd pidfd_send_signal tkill tgkill "
    "rt_sigqueueinfo rt_tgsigqueueinfo",
    "namespaces, mounts, the machine": "unshare setns mount umount2 pivot_root chroot "
    "mount_setattr move_mount open_tree fsopen fsconfig fsmount fspick acct swapon swapoff "
    "reboot kexec_load kexec_file_load init_module finit_module delete_module quotactl "
    "quotactl_fd sethostname setdomainname settimeofday clock_settime clock_adjtime adjtimex "
    "syslog iopl ioperm personality setuid setgid setreuid setregid setresuid setresgid "
    "setgroups setfsuid setfsgid capset",
    "kernel facilities a model never needs": "keyctl add_key request_key bpf userfaultfd "
    "perf_event_open seccomp io_uring_setup io_uring_enter io_uring_register lookup_dcookie "
    "uselib vhangup migrate_pages move_pages process_madvise process_mrelease sched_setattr "
    "sched_setscheduler sched_setparam",
    "new objects two workers could share": "pipe pipe2 eventfd eventfd2 signalfd signalfd4 "
    "timerfd_create inotify_init inotify_init1 fanotify_init epoll_create epoll_create1 "
    "memfd_create memfd_secret shmget shmat shmctl msgget msgsnd msgrcv msgctl semget semop "
    "semtimedop semctl mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify "
    "mq_getsetattr flock",
    "files: nothing is created, changed or written": "creat mkdir mkdirat mknod mknodat "
    "rmdir unlink unlinkat rename renameat renameat2 link linkat symlink symlinkat chmod "
    "fchmod fchmodat fchmodat2 chown fchown fchownat lchown truncate ftruncate fallocate "
    "utime utimes utimensat futimesat setxattr lsetxattr fsetxattr removexattr lremovexattr "
    "fremovexattr setxattrat removexattrat open_by_handle_at name_to_handle_at",
    "another program (it would inherit the filter anyway)": "execve execveat",
}
REFUSED = tuple(name for names in REFUSED_GROUPS.values() for name in names.split())
# Refused with ENOSYS, so that libc falls back to the calls checked below.
UNSUPPORTED = ("clone3", "openat2")

# Open flags that write or create: O_WRONLY O_RDWR O_CREAT O_TRUNC O_APPEND __O_TMPFILE.
WRITE_FLAGS = (0o1, 0o2, 0o100, 0o1000, 0o2000, 0o20000000)
MAP_SHARED = 0x01  # MAP_SHARED_VALIDATE (0x03) has it too
# clone() flags that make a namespace, or let the parent trace the child.
CLONE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
    0x00002000,  # CLONE_PTRACE
)
# fcntl commands that signal another process, lock or lease a shared file
# description, or grow a pipe's buffer.
FCNTL_REFUSED = (6, 7, 8, 10, 15, 37, 38, 1024, 1026, 1031)
# prctl options: dumpable again, a ptracer, the memory map, a subreaper, seccomp.
PRCTL_REFUSED = (4, 0x59616D61, 35, 36, 22)
IOCTL_REFUSED = (0x5412, 0x541C)  # TIOCSTI, TIOCLINUX: typing into a terminal
# Where libc and libseccomp are (Debian and the official Python image alike);
# naming them spares pyseccomp's two ldconfig runs (about 30 ms per start).
LIBRARIES = {"c": "libc.so.6", "seccomp": "libseccomp.so.2"}


class ConfineError(RuntimeError):
    """The filter could not be installed: the grader's fault, never the student's."""


def raise_oom_score() -> None:
    """Be the OOM killer's first choice (raising needs no privilege; best effort)."""
    try:
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
    except OSError:
        return
    try:
        os.write(fd, b"1000")
    except OSError:
        pass
    finally:
        os.close(fd)


def _bindings(library_dir: str) -> tuple[object, object]:
    """pyseccomp and ctypes, imported from ``library_dir`` (the worker runs with ``-S``)."""
    import ctypes
    import ctypes.util

    found = ctypes.util.find_library
    ctypes.util.find_library = lambda name: LIBRARIES.get(name) or found(name)
    sys.path.insert(0, library_dir)
    try:
        import pyseccomp
    except (ImportError, OSError) as exc:
        raise ConfineError(f"libseccomp's bindings could not be loaded: {exc}") from None
    finally:
        sys.path.remove(library_dir)
        ctypes.util.find_library = found
    return pyseccomp, ctypes


def confine(library_dir: str) -> None:
    """Not dumpable, then the filter: from here on every thread and fork is under it."""
    seccomp, ctypes = _bindings(library_dir)
    libc: object = ctypes.CDLL(None, use_errno=True)  # type: ignore[attr-defined]
    if libc.prctl(4, 0, 0, 0, 0) != 0:  # type: ignore[attr-defined]  # PR_SET_DUMPABLE
        raise ConfineError("prctl(PR_SET_DUMPABLE, 0) failed")
    try:
        build_filter(seccomp).load()  # type: ignore[attr-defined]
    except OSError as exc:
        raise ConfineError(f"the seccomp filter could not be loaded: {exc}") from None


def build_filter(seccomp: object) -> object:
    """The filter (not loaded): allow by default, refuse the calls above."""
    s: object = seccomp
    refuse = s.ERRNO(errno.EPERM)  # type: ignore[attr-defined]
    f = s.SyscallFilter(s.ALLOW)  # type: ignore[attr-defined]
    arg, masked, eq, ne = s.Arg, s.MASKED_EQ, s.EQ, s.NE  # type: ignore[attr-defined]

    def add(action: object, name: str, *conditions: object) -> None:
        if s.resolve_syscall(s.Arch.NATIVE, name) < 0:  # type: ignore[attr-defined]
            return  # not a call of this architecture (or this libseccomp's tables)
        f.add_rule(action, name, *conditions)

    for name in REFUSED:
        add(refuse, name)
    for name in UNSUPPORTED:
        add(s.ERRNO(errno.ENOSYS), name)  # type: ignore[attr-defined]
    for bit in WRITE_FLAGS:
        add(refuse, "open", arg(1, masked, bit, bit))
        add(refuse, "openat", arg(2, masked, bit, bit))
    add(refuse, "mmap", arg(3, masked, MAP_SHARED, MAP_SHARED))
    for bit in CLONE_FLAGS:
        add(refuse, "clone", arg(0, masked, bit, bit))
    for command in FCNTL_REFUSED:
        add(refuse, "fcntl", arg(1, eq, command))
    for option in PRCTL_REFUSED:
        add(refuse, "prctl", arg(0, eq, option))
    for request in IOCTL_REFUSED:
        add(refuse, "ioctl", arg(1, eq, request))
    add(refuse, "kill", arg(0, ne, 0))  # only kill(0, sig): this process's own group
    add(refuse, "prlimit64", arg(0, ne, 0))  # only its own limits
    return f
