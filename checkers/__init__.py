"""Checkers: verdicts over histories. See ``checkers._result`` for the interface."""

from checkers._result import UNKNOWN, CheckContext, Checker, Result, Validity, merge_validity, run_checkers

__all__ = ["UNKNOWN", "CheckContext", "Checker", "Result", "Validity", "merge_validity", "run_checkers"]
