"""HTML reports: ``report.html`` for one run and ``index.html`` for a results directory.

Both pages are single files that work offline: inline CSS and a small vanilla
script, data embedded as JSON, a Content-Security-Policy that allows nothing
else. Every string from a history, a result or a log is escaped.

>>> write_report(Path("results/latest"))          # doctest: +SKIP
PosixPath('results/latest/report.html')
>>> write_index(Path("results"))                  # doctest: +SKIP
PosixPath('results/index.html')
"""

from harness.report._index import write_index
from harness.report._page import write_report

__all__ = ["write_index", "write_report"]
