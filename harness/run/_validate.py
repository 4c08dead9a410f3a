"""The one validation of a :class:`~harness.core.TestSpec`.

The CLI, YAML plans, the pytest plugin and the runner all call it, so they agree.
"""

from __future__ import annotations

from harness.core import TestSpec, UsageError
from nemesis import role_targets
from workloads import WORKLOADS


def unsupported_roles(spec: TestSpec) -> str | None:
    """Why a role target in ``spec.nemesis`` (``pause:lock-holder``) does not fit its workload; None if all fit."""
    reported = WORKLOADS[spec.workload].roles if spec.workload in WORKLOADS else ()
    missing = [r for r in role_targets(spec.nemesis) if r not in reported]
    if not missing:
        return None
    offering = sorted(name for name, w in WORKLOADS.items() if set(missing) <= set(w.roles))
    return (f"nemesis target {', '.join(missing)} needs a workload that reports it; {spec.workload} does not "
            f"(use one of: {', '.join(offering) or 'none'})")


def validate_spec(spec: TestSpec) -> TestSpec:
    """Return ``spec`` if it can run; else :class:`~harness.core.UsageError` saying what is allowed."""
    if spec.workload not in WORKLOADS:
        raise UsageError(f"unknown workload {spec.workload!r}; allowed: {', '.join(WORKLOADS)}")
    why = unsupported_roles(spec)
    if why:
        raise UsageError(why)
    return spec
