"""A suite's outputs: ``junit.xml``, ``summary.txt`` and ``suite.json``.

``suite.json`` also says which plan and which split a shard belongs to, for
``etcd-harness merge`` (:mod:`harness.run._merge`)::

    "suite_seed": 1234, "plan_fingerprint": "3f2a...",        Plan.fingerprint()
    "shard": {"index": 2, "count": 8, "split": "9c1e...", "expected_s": 1350.0},
    "plan_entries": [{"index", "name", "line", "expect", "shard", "expected_s", "spec"}, ...]   the whole plan
    "entries": [{"index", "name", ..., "status", "verdict", "detail", "spec"}, ...]             what this shard ran
"""

from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.core import EXIT_VALID, JUNIT, SUITE, SUMMARY, write_atomically, write_json
from harness.run._outcome import SuiteOutcome, verdict_word
from harness.run._plan import Plan, expected_s, nemesis_label
from harness.run._progress import format_seconds
from harness.run._shard import Shard, split_digest, split_plan

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    """XML 1.0 cannot carry most control characters (etcd logs may): replace them."""
    return _XML_ILLEGAL.sub("\ufffd", text)


def replay_command(run_dir: Path) -> str:

    return shlex.join(["etcd-harness", "test", "--replay", str(run_dir)])


def junit_xml(outcome: SuiteOutcome) -> ET.ElementTree[ET.Element]:
    """One ``<testsuite>`` with one ``<testcase>`` per entry (JUnit's common schema, as CI servers read it)."""
    results = outcome.results
    counts = {s: sum(1 for r in results if r.status == s) for s in ("fail", "error", "interrupted", "skipped")}
    root = ET.Element("testsuites", name=outcome.plan.name, tests=str(len(results)), failures=str(counts["fail"]),
                      errors=str(counts["error"] + counts["interrupted"]), skipped=str(counts["skipped"]),
                      time=f"{outcome.duration_s:.3f}")
    suite = ET.SubElement(root, "testsuite", name=outcome.plan.name, tests=str(len(results)),
                          failures=str(counts["fail"]), errors=str(counts["error"] + counts["interrupted"]),
                          skipped=str(counts["skipped"]), time=f"{outcome.duration_s:.3f}",
                          timestamp=outcome.started_at)
    props = ET.SubElement(suite, "properties")
    for k, v in (("plan", str(outcome.plan.path)), ("suite_dir", str(outcome.suite_dir)),
                 ("interrupted", str(outcome.interrupted).lower())):
        ET.SubElement(props, "property", name=k, value=_xml_text(v))
    for r in results:
        s = r.entry.spec
        case = ET.SubElement(suite, "testcase", classname=f"etcd-harness.{outcome.plan.name}", name=r.entry.name,
                             time=f"{r.duration_s:.3f}", file=str(outcome.plan.path), line=str(r.entry.line))
        cprops = ET.SubElement(case, "properties")
        for k, v in (("workload", s.workload), ("nemesis", nemesis_label(s.nemesis)), ("nodes", str(s.nodes)),
                     ("image", s.image), ("seed", str(s.seed)), ("time_limit", f"{s.time_limit:g}"),
                     ("expect", r.entry.expect), ("verdict", verdict_word(r.verdict))):
            ET.SubElement(cprops, "property", name=k, value=_xml_text(v))
        if r.run_dir is not None:
            ET.SubElement(cprops, "property", name="run_dir", value=_xml_text(str(r.run_dir)))
        where = ""
        if r.run_dir is not None:
            where = f"\nreport: {r.report}\nreplay: {replay_command(r.run_dir)}"
        if r.status == "fail":
            el = ET.SubElement(case, "failure", message=_xml_text(r.message),
                               type="unexpected-" + verdict_word(r.verdict))
            el.text = _xml_text(r.message + where + (f"\n\n{r.detail}" if r.detail else ""))
        elif r.status in ("error", "interrupted"):
            el = ET.SubElement(case, "error", message=_xml_text(r.message), type=r.status)
            el.text = _xml_text(r.message + where + (f"\n\n{r.detail}" if r.detail else ""))
        elif r.status == "skipped":
            ET.SubElement(case, "skipped", message=_xml_text(r.message))
        if r.status == "pass" and r.run_dir is not None:
            ET.SubElement(case, "system-out").text = _xml_text(
                f"{verdict_word(r.verdict)}: {r.message or 'every checker valid'}{where}")
    ET.indent(root)
    return ET.ElementTree(root)


def format_summary(outcome: SuiteOutcome) -> str:
    """A plain-text table: one row per entry, then the totals."""
    header = ("#", "test", "expect", "verdict", "result", "ops/s", "time", "reason")
    rows = []
    for i, r in enumerate(outcome.results, 1):
        reason = r.message  # for a passing canary: the anomaly its checker found
        if len(reason) > 70:
            reason = reason[:69] + "…"
        rows.append((str(i), r.entry.name, r.entry.expect, verdict_word(r.verdict), r.status.upper(),
                     f"{r.ops_per_s:.0f}" if r.ops_per_s is not None else "-",
                     format_seconds(r.duration_s) if r.status != "skipped" else "-", reason))
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    counts = {s: sum(1 for r in outcome.results if r.status == s)
              for s in ("pass", "fail", "error", "interrupted", "skipped")}
    total = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    verdict = "INTERRUPTED" if outcome.interrupted else "OK" if outcome.exit_code == EXIT_VALID else "FAILED"
    lines.append("")
    lines.append(f"suite {outcome.plan.name}: {verdict} ({total}) in {format_seconds(outcome.duration_s)}, "
                 f"exit {outcome.exit_code}")
    lines.append(f"junit: {outcome.suite_dir / 'junit.xml'}")
    return "\n".join(lines)


def _inside(path: Path | None, folder: Path) -> str | None:
    """``path`` relative to ``folder`` if it is inside it (a shard's runs, wherever its folder is copied)."""
    if path is None:
        return None
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return None


def write_outputs(outcome: SuiteOutcome, *, full_plan: Plan | None = None, shards: Sequence[Shard] | None = None,
                  shard_index: int = 1, extra: dict[str, Any] | None = None) -> None:
    """``junit.xml``, ``summary.txt`` and ``suite.json`` in the suite directory. ``full_plan`` is the plan
    that ``outcome.plan`` is a shard of, ``shards`` its split (default: the outcome's plan, unsplit);
    ``extra`` goes into ``suite.json`` as it is."""
    d = outcome.suite_dir
    full_plan = full_plan or outcome.plan
    shards = shards or split_plan(full_plan, 1)
    junit = ET.tostring(junit_xml(outcome).getroot(), encoding="unicode")
    write_atomically(d / JUNIT, "<?xml version='1.0' encoding='utf-8'?>\n" + junit)
    write_atomically(d / SUMMARY, format_summary(outcome) + "\n")
    position = {e.name: i for i, e in enumerate(full_plan.entries)}
    shard_of = {e.name: s.index for s in shards for e in s.entries}
    data = {
        "suite": outcome.plan.name, "plan": str(outcome.plan.path), "started_at": outcome.started_at,
        "duration_s": round(outcome.duration_s, 3), "interrupted": outcome.interrupted,
        "exit_code": outcome.exit_code,
        "suite_seed": full_plan.suite_seed, "plan_fingerprint": full_plan.fingerprint(),
        "shard": {"index": shard_index, "count": len(shards), "split": split_digest(shards),
                  "expected_s": round(shards[shard_index - 1].expected_s, 1)},
        **(extra or {}),
        "entries": [{"index": position.get(r.entry.name), "name": r.entry.name, "line": r.entry.line,
                     "expect": r.entry.expect, "status": r.status, "verdict": r.verdict, "message": r.message,
                     "detail": r.detail, "duration_s": round(r.duration_s, 3), "ops_per_s": r.ops_per_s,
                     "run_dir": str(r.run_dir) if r.run_dir else None, "run_dir_in_suite": _inside(r.run_dir, d),
                     "spec": r.entry.spec.to_json()}
                    for r in outcome.results],
        "plan_entries": [{"index": i, "name": e.name, "line": e.line, "expect": e.expect,
                          "seed_given": e.seed_given, "bug": list(e.bug), "shard": shard_of.get(e.name),
                          "expected_s": round(expected_s(e.spec), 1), "spec": e.spec.to_json()}
                         for i, e in enumerate(full_plan.entries)],
    }
    write_json(d / SUITE, data)
