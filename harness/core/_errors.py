"""Every error the harness raises on purpose, and the exit code each one maps to.

::

    HarnessError                 base; ``exit_code`` says how the CLI ends
    ├── UsageError               bad flags or values               exit 2
    ├── InputError               a bad file: names file and line   exit 3
    │   ├── HistoryFormatError   a history file that cannot be read
    │   └── PlanError            a YAML test plan that is invalid
    └── InfrastructureError      Docker, images, the cluster       exit 4
        ├── DockerUnavailable    the Docker engine cannot be reached
        ├── ImageMissing         the etcd image is not there
        └── ClusterError         a node failed to start or recover

Exit codes of ``etcd-harness`` (documented in the README too):

====  =========================================================
0     every verdict valid
1     some verdict invalid
2     usage error (flags, arguments)
3     input error (history file, YAML plan)
4     infrastructure error (Docker, image, cluster start)
5     no verdict was invalid, but some was unknown (time or memory limit)
130   interrupted (Ctrl-C / SIGTERM); everything was torn down
====  =========================================================

Messages say how to fix the problem, not only what went wrong.
"""

from __future__ import annotations

from pathlib import Path

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_INFRA = 4
EXIT_UNKNOWN = 5
EXIT_INTERRUPTED = 130


class HarnessError(Exception):
    exit_code = EXIT_INFRA


class UsageError(HarnessError):
    exit_code = EXIT_USAGE


class InputError(HarnessError):
    """A bad input file. The message names the file and, where known, the line."""

    exit_code = EXIT_INPUT

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.detail = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class HistoryFormatError(InputError):
    pass


class PlanError(InputError):
    pass


class InfrastructureError(HarnessError):
    exit_code = EXIT_INFRA


class DockerUnavailable(InfrastructureError):
    pass


class ImageMissing(InfrastructureError):
    pass


class ClusterError(InfrastructureError):
    pass
