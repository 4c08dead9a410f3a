"""A test is plain data: :class:`TestSpec`, stored with each run as ``config.json``."""

from __future__ import annotations

import dataclasses
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core._errors import UsageError


@dataclass(frozen=True, slots=True, kw_only=True)
class TestSpec:
    """Everything that decides what a run does. Same spec and seed → same plan of ops and faults."""

    __test__ = False  # not a pytest test class, despite the name

    workload: str = "register"
    nemesis: tuple[str, ...] = ("partition",)
    nodes: int = 5
    time_limit: float = 60.0
    concurrency: int = 10
    rate: float = 200.0  # target ops/s over all processes; 0 = as fast as possible
    seed: int = 0
    image: str = "etcd-harness/etcd:3.5.16"
    name: str = ""  # the test name: results/<name>/<timestamp>/; default "<workload>-<nemesis>"
    nemesis_interval: float = 5.0
    ops_per_key: int = 200
    read_mode: str = "linearizable"  # or "serializable" (may read stale values: a canary)
    counter_mode: str = "safe"  # or "unsafe" (read then put: a canary)
    ttl: int = 2  # lease / v2 TTL in seconds, lock workloads
    request_timeout: float = 3.0
    recovery_timeout: float = 60.0
    check_time_limit: float = 120.0
    check_memory_mb: int = 2048
    results_dir: str = "results"
    options: dict[str, Any] = field(default_factory=dict)  # workload-specific extras
    #: Extra flags for every etcd member (``--etcd-arg``), e.g. ``("--experimental-initial-corrupt-check=true",)``;
    #: checked against the image's ``etcd --help`` before the cluster starts.
    etcd_args: tuple[str, ...] = ()

    @property
    def test_name(self) -> str:
        """The results folder's name: ``name``, else ``<workload>-<nemesis>`` (``pause:x`` → ``pause-x``)."""
        return self.name or f"{self.workload}-{'+'.join(self.nemesis).replace(':', '-') or 'none'}"

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["nemesis"] = list(self.nemesis)
        d["etcd_args"] = list(self.etcd_args)
        d["name"] = self.test_name
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TestSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names}
        for key in ("nemesis", "etcd_args"):
            if key in kwargs and isinstance(kwargs[key], list | tuple):
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)

    @classmethod
    def load(cls, path: Path) -> TestSpec:
        try:
            return cls.from_json(json.loads(path.read_text()))
        except FileNotFoundError as e:
            raise UsageError(f"{path}: no such file; --replay takes a run directory holding config.json") from e
        except (ValueError, TypeError) as e:
            raise UsageError(f"{path}: not a valid run config: {e}") from e

    def command(self) -> str:
        """A command line that reruns this test with the same plan."""
        default = TestSpec()
        argv = ["etcd-harness", "test"]
        for f in dataclasses.fields(self):
            if f.name in ("options", "etcd_args"):
                continue
            value = getattr(self, f.name)
            if f.name != "seed" and value == getattr(default, f.name):
                continue
            if f.name == "nemesis":
                value = ",".join(value) or "none"
            argv += [f"--{f.name.replace('_', '-')}", str(value)]
        for key, value in self.options.items():
            argv += ["--option", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
        # "--etcd-arg=--flag": a value that starts with "-" needs the "=" form on the command line.
        argv += [f"--etcd-arg={arg}" for arg in self.etcd_args]
        return shlex.join(argv)
