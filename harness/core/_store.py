"""The results store: where a run or a suite writes each file, and how.

One place spells the layout, so the runner, the suites, the report and the
pytest plugin cannot drift apart::

    results/                       the results root (``--results-dir``)
      latest -> <test>/<stamp>     the newest run (a relative symlink)
      index.html                   every run, newest first
      <test-name>/<YYYYmmddTHHMMSS>/   one run: see :class:`RunDir`
      <suite-name>/<YYYYmmddTHHMMSS>/  one suite: its runs, junit.xml, summary.txt, suite.json

Contract:

* :func:`write_atomically` replaces a file in one step: a reader (or a crash)
  sees the old content or the new, never half of it.
* :func:`new_stamped_dir` never reuses a directory: two runs in the same
  second get ``<stamp>`` and ``<stamp>-2``.
"""

from __future__ import annotations

import json
import os
import threading
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CONFIG = "config.json"
HISTORY = "history.jsonl"
RESULTS = "results.json"
LEADERS = "leaders.jsonl"
REPORT = "report.html"
NODES = "nodes"
NODE_LOG = "etcd.log"
CLUSTER_FACTS = "cluster.json"
LATEST = "latest"
INDEX = "index.html"
JUNIT = "junit.xml"
SUMMARY = "summary.txt"
SUITE = "suite.json"
PLAN_COPY = "plan.yaml"


@dataclass(frozen=True, slots=True)
class RunDir:
    """The files of one run directory (``results/<test-name>/<stamp>/``)."""

    path: Path

    @property
    def config(self) -> Path:
        """The :class:`~harness.core.TestSpec` as JSON, plus ``command``, ``etcd_version``, ``run_id``."""
        return self.path / CONFIG

    @property
    def history(self) -> Path:
        """Every op, one JSON object a line, written as it happens."""
        return self.path / HISTORY

    @property
    def results(self) -> Path:
        """The verdict: ``{"valid", "checkers", "stats", "timing", "notes"}``."""
        return self.path / RESULTS

    @property
    def leaders(self) -> Path:
        """Leader changes seen during the run, one JSON object a line."""
        return self.path / LEADERS

    @property
    def report(self) -> Path:
        return self.path / REPORT

    @property
    def nodes(self) -> Path:
        return self.path / NODES

    @property
    def cluster_facts(self) -> Path:
        """What the cluster said of itself after the run: HashKV, revisions, alarms (``checkers.cluster_state``)."""
        return self.path / CLUSTER_FACTS

    def node_log(self, node: str) -> Path:
        return self.path / NODES / node / NODE_LOG

    def is_run(self) -> bool:
        """Whether this looks like a run directory (it has a history or a verdict)."""
        return self.history.exists() or self.results.exists()


def new_stamped_dir(parent: Path) -> Path:
    """Create and return ``parent/<YYYYmmddTHHMMSS>`` (``-2``, ``-3``, ... if taken)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    base = parent / stamp
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{stamp}-{n}")


def point_latest(run_dir: Path, root: Path) -> None:
    """Point ``root/latest`` at ``run_dir`` (a relative symlink, replaced atomically)."""
    link = root / LATEST
    tmp = root / f".{LATEST}-{os.getpid()}"
    with suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(run_dir.resolve().relative_to(root.resolve()))
    tmp.replace(link)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    # A name unique per process and thread: two writers of one file must not share a temporary.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    finally:
        with suppress(FileNotFoundError):
            tmp.unlink()


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON, atomically; values JSON cannot hold are written as strings."""
    write_atomically(path, json.dumps(data, indent=2, default=str) + "\n")
