# The grader's sandbox image: Python 3.11, the judge, the hidden suite, the
# reference, the pack, and pinned pytest / pytest-json-report / pytest-timeout, and
# pyseccomp (the worker's seccomp filter).
#
# Build it with `grade build-image` (it downloads the wheels and picks the base).
# The context is assembled in a temporary folder by grader/sandbox/image.py from
# the grader's own files (a checkout or an installed wheel alike), in the
# repository's layout: Dockerfile, docker/requirements.txt, grader/, reference/,
# student_template/{engine,nn}.py and build/wheels/; COPY reads nothing else.
# The build is hermetic: wheels come from build/wheels/ in the context (see
# docker/requirements.txt), nothing is fetched inside the build. The base image
# is a build argument: the official slim image on a normal machine, or the one
# scripts/make-base-image.sh makes offline with debootstrap where no registry
# is reachable.
#
# Layout inside the image:
#   /opt/grader   judge, hidden suite, reference,  root:10001 0750/0640 (judge only)
#                 probe.key (seeds each grading's probe inputs; made at build time)
#   /opt/sandbox  worker + engine.py/nn.py          root:root  world-readable
#   /tmp/submission-*/minigpt.py  the file, written by the judge when it arrives on its
#                 stdin (folder 0555, file 0444, the judge's uid): readable, never changeable
#   /submission   root 0755: where PrairieLearn's entrypoint places the file (as root)
#   <purelib>/minigpt_grader.pth                    root 0644: puts /opt/grader on sys.path
#   /usr/local/bin/minigpt-prairielearn             root 0700: PrairieLearn's entrypoint
#
# The judge starts as `python3 -I -m grader.judge` (isolated: no PYTHON* variables,
# no user site, no working directory on sys.path), so `grader` is found through the
# .pth file in the interpreter's own site directory; there is no PYTHONPATH. The
# worker starts with `-I -S` and never reads .pth files.

ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# Numeric ids are what the sandbox uses; the names only make `ps`/`ls` readable.
#   10001 judge   (runs the test framework, keeps CAP_SETUID/SETGID/KILL)
#   10002 student (runs the submission, no capabilities)
RUN set -eu; \
    if command -v useradd >/dev/null 2>&1; then \
        groupadd -g 10001 judge && useradd -u 10001 -g 10001 -M -d /nonexistent -s /usr/sbin/nologin judge; \
        groupadd -g 10002 student && useradd -u 10002 -g 10002 -M -d /nonexistent -s /usr/sbin/nologin student; \
    fi; \
    command -v setpriv >/dev/null   # util-linux: the sandbox drops privileges with it

# Install the wheels with pip run straight from its own wheel file: works on the
# debootstrap base (python3 without pip, Debian's EXTERNALLY-MANAGED marker, hence
# --break-system-packages) and on python:3.11-slim (pip present; flag harmless).
# Nothing but the listed requirements lands in the image; the wheels are removed.
COPY build/wheels/ /tmp/wheels/
COPY docker/requirements.txt /tmp/wheels/requirements.txt
RUN set -eu; \
    pip_whl="$(ls /tmp/wheels/pip-*.whl | head -n 1)"; \
    python3 "$pip_whl/pip" install --no-index --find-links /tmp/wheels \
        --break-system-packages --root-user-action=ignore \
        -r /tmp/wheels/requirements.txt; \
    rm -rf /tmp/wheels; \
    python3 -c "import pytest, pytest_jsonreport, pytest_timeout, pydantic, pyseccomp"

# The judge's files: readable by uid 10001 only. The worker and the pack are
# copied from the same sources to /opt/sandbox, the only code the student's
# uid can read. Byte-code is compiled now because the root is read-only later.
COPY grader/ /opt/grader/grader/
COPY reference/minigpt.py /opt/grader/reference/minigpt.py
COPY student_template/engine.py student_template/nn.py /opt/grader/student_template/
RUN set -eu; \
    mkdir -p /opt/sandbox/worker /opt/sandbox/pack; \
    cp /opt/grader/grader/worker/*.py /opt/sandbox/worker/; \
    cp /opt/grader/student_template/engine.py /opt/grader/student_template/nn.py /opt/sandbox/pack/; \
    python3 -m compileall -q /opt/grader /opt/sandbox; \
    python3 -c 'import secrets; print(secrets.token_hex(32))' > /opt/grader/probe.key; \
    chown -R 0:10001 /opt/grader; \
    find /opt/grader -type d -exec chmod 0750 {} +; \
    find /opt/grader -type f -exec chmod 0640 {} +; \
    chown -R 0:0 /opt/sandbox; \
    chmod -R u=rwX,go=rX /opt/sandbox

# `grader` for the isolated judge: a .pth file in the site directory `python3 -I`
# reads (Debian's python3: /usr/local/lib/python3.11/dist-packages; the official
# image: /usr/local/lib/python3.11/site-packages). The build fails unless -I reads
# that directory and the judge's uid then imports the grader from /opt/grader.
RUN set -eu; \
    site="$(python3 -I -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"; \
    python3 -I -c 'import sys; sys.exit(sys.argv[1] not in sys.path)' "$site"; \
    printf '/opt/grader\n' > "$site/minigpt_grader.pth"; \
    chown 0:0 "$site/minigpt_grader.pth"; \
    chmod 0644 "$site/minigpt_grader.pth"; \
    setpriv --reuid=10001 --regid=10001 --clear-groups python3 -I -c \
        'import grader.judge; assert grader.judge.__file__.startswith("/opt/grader/grader/")'

# PrairieLearn's external grader runs the image as root with /grade mounted and
# this as its entrypoint (info.json); it starts the same judge under the same
# uids and writes /grade/results/results.json (grader/prairielearn_entry.py).
RUN set -eu; \
    printf '#!/bin/sh\nexec python3 -I -m grader.prairielearn_entry "$@"\n' \
        > /usr/local/bin/minigpt-prairielearn; \
    chmod 0700 /usr/local/bin/minigpt-prairielearn; \
    python3 -I -c 'import grader.prairielearn_entry'

ARG GRADER_VERSION=unknown
ARG SUITE_HASH=unknown
ARG RECIPE_HASH=unknown
LABEL org.minigpt-grader.version="${GRADER_VERSION}" \
      org.minigpt-grader.suite-hash="${SUITE_HASH}" \
      org.minigpt-grader.recipe="${RECIPE_HASH}"
# No PYTHONPATH (the .pth above does its job); HOME is nowhere, like the uids' own.
ENV HOME=/nonexistent

# PrairieLearn's entrypoint writes the file here as root (its containers have a
# writable root); the Docker backend's root is read-only and never uses it.
RUN mkdir -p /submission && chmod 0755 /submission

# /tmp is not world-writable: the engine gives the container's /tmp tmpfs this mode,
# owned by the judge (container_options), so the student's uid can create nothing
# there. The worker's seccomp filter (grader/worker/confine.py) loads libseccomp
# (Debian's libseccomp2, which apt needs, so every Debian base has it) through
# pyseccomp, installed above from its wheel; the build fails without either.
RUN set -eu; \
    chmod 0755 /tmp; \
    python3 -I -c 'import ctypes; ctypes.CDLL("libseccomp.so.2"); import pyseccomp'

WORKDIR /tmp
USER 0
CMD ["python3"]
