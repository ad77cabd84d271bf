"""The judge's configuration: what crosses the host/sandbox boundary as JSON.

A plain dataclass, not a pydantic model: the judge reads it at every start-up,
and importing pydantic would cost every grading about 50 ms of CPU. The host
writes it (:meth:`JudgeConfig.to_json`); the judge refuses an unknown field or
a value of the wrong type, so a host and an image that disagree fail loudly.
Paths are as the judge sees them, inside the sandbox.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import paths
from ..limits import MAX_SOURCE_BYTES

if TYPE_CHECKING:
    from ..settings import Limits


class ConfigError(ValueError):
    """The configuration text is not a JudgeConfig."""


@dataclass(frozen=True)
class JudgeConfig:
    call_timeout: float = 10.0
    import_timeout: float = 10.0
    worker_memory_mb: int = 512
    max_source_bytes: int = MAX_SOURCE_BYTES
    policy: bool = True
    python: str = "python3"
    worker_prefix: list[str] = field(default_factory=list)
    worker_dir: Path = paths.WORKER_DIR
    pack_dir: Path = paths.TEMPLATE_DIR
    sweep_processes: bool = False  # kill every signalable process after a worker (Docker only)
    probe_key_file: Path | None = None  # key of the grading seed (judge-only); None: suite hash
    # The worker's seccomp filter: "required" (Docker), "auto" (when the machine has
    # libseccomp and pyseccomp), "off".
    seccomp: str = "auto"
    worker_scratch: Path | None = None  # where each worker's own folder is made; None: TMPDIR
    container_cgroup: bool = False  # the judge's cgroup is the container's (CPU, OOM kills)

    @classmethod
    def from_limits(cls, limits: Limits, **overrides: Any) -> JudgeConfig:
        """The judge's share of the host's limits, with ``overrides`` (checked like JSON)."""
        return cls.from_dict(
            {
                "call_timeout": limits.call_timeout,
                "import_timeout": limits.import_timeout,
                "worker_memory_mb": limits.worker_memory_mb,
                "max_source_bytes": limits.max_source_bytes,
                **{k: str(v) if isinstance(v, Path) else v for k, v in overrides.items()},
            }
        )

    @classmethod
    def from_json(cls, text: str) -> JudgeConfig:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"the judge's configuration is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError("the judge's configuration is not a JSON object")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JudgeConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown field(s) in the judge's configuration: {unknown}")
        return cls(**{name: _checked(name, value) for name, value in data.items()})

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        return json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in data.items()})


def _checked(name: str, value: Any) -> Any:
    """``value`` as field ``name`` holds it, or ConfigError."""
    kind = _KINDS[name]
    if kind is float and type(value) in (int, float):
        return float(value)
    if name == "seccomp" and value not in ("required", "auto", "off"):
        raise ConfigError(f"the judge's configuration has a bad {name}: {value!r}")
    if kind in (int, bool, str) and type(value) is kind:
        return value
    if kind is list and isinstance(value, list) and all(type(x) is str for x in value):
        return list(value)
    if kind is Path and type(value) is str:
        return Path(value)
    if kind == "path?" and (value is None or type(value) is str):
        return None if value is None else Path(value)
    raise ConfigError(f"the judge's configuration has a bad {name}: {value!r}")


# Each field's annotation (a string: annotations are postponed) and how its JSON is read.
_READERS: dict[str, Any] = {
    "float": float,
    "int": int,
    "bool": bool,
    "str": str,
    "list[str]": list,
    "Path": Path,
    "Path | None": "path?",
}
_KINDS: dict[str, Any] = {f.name: _READERS[str(f.type)] for f in dataclasses.fields(JudgeConfig)}
