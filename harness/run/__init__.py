"""The top floor: runs tests and suites, and the command line. It may import every other floor.

* :func:`run_test` runs one :class:`~harness.core.TestSpec` end to end;
* :func:`validate_spec` is the one validation of a spec, for the CLI, YAML plans,
  the pytest plugin and the runner alike (:func:`spec_from_fields` builds one from
  keyword arguments, as ``jepsen_run(**fields)`` does, and validates it);
* suites: :func:`load_plan` / :func:`parse_plan` read a YAML plan, :func:`run_plan`
  runs it and writes ``junit.xml``, ``summary.txt`` and ``suite.json``;
* :func:`main` is ``etcd-harness``; ``harness.run.pytest_plugin`` is the pytest plugin.

Names load on first use (PEP 562): ``etcd-harness check`` imports this package
on its way to the command line, and needs only the checkers (0.15 s) rather
than the runner with the workloads and faults (0.40 s, measured on 2 cores).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.run._check import check_command
    from harness.run._cli import main
    from harness.run._outcome import EntryResult, SuiteOutcome, judge, suite_exit_code, verdict_word
    from harness.run._outputs import format_summary, junit_xml, write_outputs
    from harness.run._plan import ENTRY_KEYS, Expect, Plan, PlanEntry, load_plan, parse_plan
    from harness.run._runner import Run, RunOutcome, run_test
    from harness.run._suite import run_plan
    from harness.run._validate import spec_from_fields, validate_spec

#: Public name -> the private module that defines it.
_WHERE = {
    "check_command": "_check",
    "main": "_cli",
    "EntryResult": "_outcome",
    "SuiteOutcome": "_outcome",
    "judge": "_outcome",
    "suite_exit_code": "_outcome",
    "verdict_word": "_outcome",
    "format_summary": "_outputs",
    "junit_xml": "_outputs",
    "write_outputs": "_outputs",
    "ENTRY_KEYS": "_plan",
    "Expect": "_plan",
    "Plan": "_plan",
    "PlanEntry": "_plan",
    "load_plan": "_plan",
    "parse_plan": "_plan",
    "Run": "_runner",
    "RunOutcome": "_runner",
    "run_test": "_runner",
    "run_plan": "_suite",
    "spec_from_fields": "_validate",
    "validate_spec": "_validate",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'harness.run' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"harness.run.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ENTRY_KEYS",
    "EntryResult",
    "Expect",
    "Plan",
    "PlanEntry",
    "Run",
    "RunOutcome",
    "SuiteOutcome",
    "check_command",
    "format_summary",
    "judge",
    "junit_xml",
    "load_plan",
    "main",
    "parse_plan",
    "run_plan",
    "run_test",
    "spec_from_fields",
    "suite_exit_code",
    "validate_spec",
    "verdict_word",
    "write_outputs",
]
