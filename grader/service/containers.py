"""The service's containers: labelled with the process that owns them, and cleared
when that process is gone.

Every container a service or ``grade worker`` starts carries
``org.minigpt-grader.instance`` (its process, as :meth:`Owner.label` writes it)
and, when started for a job, ``org.minigpt-grader.job``. A process killed
outright (SIGKILL, the OOM killer) leaves its containers behind: grading ones
that ran on to the end and stay as exited containers, and spares whose judges
wait for a file that never comes. A starting service or worker removes the
containers of the dead processes of its own host, and only those: not a live
process's, not another machine's, not those of ``grade`` or ``grade batch``
(which carry no instance label).
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import GraderError
from ..sandbox.docker_backend import LABEL_INSTANCE
from .identity import Owner

log = logging.getLogger("grader.service")


def instance_labels(owner: Owner | None = None) -> dict[str, str]:
    """The labels every container of this process carries."""
    return {LABEL_INSTANCE: (owner or Owner.current()).label()}


def dead_owners_containers(client: Any, here: Owner | None = None) -> list[Any]:
    """The containers (running or not) whose owner was a process of this host that is gone."""
    here = here or Owner.current()
    found = []
    for container in client.containers.list(all=True, filters={"label": LABEL_INSTANCE}):
        owner = Owner.parse(container.labels.get(LABEL_INSTANCE, ""))
        if owner is not None and owner.gone(here):
            found.append(container)
    return found


def remove_dead_owners_containers(client: Any | None = None) -> int:
    """Remove them (see the module docstring); how many. Quietly 0 without Docker."""
    from docker.errors import DockerException

    from ..sandbox.docker_backend import docker_client

    own = client is None
    try:
        client = client or docker_client()
        dead = dead_owners_containers(client)
    except (GraderError, DockerException) as exc:
        log.info("no leftover containers removed: %s", exc)
        return 0
    try:
        for container in dead:
            try:
                container.remove(force=True, v=True)
            except DockerException as exc:
                log.warning("could not remove container %s: %s", container.short_id, exc)
    finally:
        if own:
            client.close()
    if dead:
        log.info("removed %d container(s) of processes that are gone", len(dead))
    return len(dead)
