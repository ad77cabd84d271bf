#!/usr/bin/env bash
# Run COMMAND in a session of its own with only stdin, stdout and stderr open.
#   bash scripts/run-detached.sh COMMAND [ARG...]
# The daemons the ensure-* scripts start (dockerd, redis-server) outlive them: a
# descriptor they inherited, such as a caller's `flock` on a lock file, would stay
# held for as long as the daemon runs. So every descriptor above 2 is closed first.
# One compound command: bash reads all of it before closing the descriptor it reads
# this script from.
{
    for fd_path in /proc/$$/fd/*; do
        fd="${fd_path##*/}"
        if [ "$fd" -gt 2 ] 2>/dev/null; then
            eval "exec $fd>&-" 2>/dev/null || true
        fi
    done
    exec setsid "$@"
}
