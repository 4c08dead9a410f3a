"""The pages' style sheets and scripts, shipped as package data in ``harness/report/assets/``.

* ``report.css`` styles both pages; ``index.css`` adds the index's table and filters.
* ``report.js`` reads the JSON block ``#report-data`` of ``report.html`` and draws
  every chart. It only ever puts data into the page through ``textContent`` and
  attributes, never as markup, and reports its own failures with ``console.error``
  and a banner, so a headless-browser test sees them.
* ``index.js`` filters the table of ``index.html``.

Both scripts are vanilla and load nothing; both set ``data-report="rendered"`` on
``<html>`` when done. The pages inline them, and the Content-Security-Policy
allows each inline script by the hash of the text actually inlined, computed
when the page is built, so editing a file needs nothing else.
"""

from __future__ import annotations

import functools
from importlib import resources

ASSETS = ("report.css", "report.js", "index.css", "index.js")


@functools.cache
def asset(name: str) -> str:
    """The text of ``assets/<name>`` (read once per process)."""
    if name not in ASSETS:
        raise ValueError(f"no report asset {name!r}; there are {', '.join(ASSETS)}")
    return (resources.files("harness.report") / "assets" / name).read_text(encoding="utf-8")
