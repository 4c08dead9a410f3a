"""``etcd-harness merge DIR...``: one suite's shards (``suite --shard K/N``) combined into one result.

Contract:

* Each DIR is a shard's results folder (it holds ``suite.json``) or a folder below
  which shards' folders are found (up to :data:`SEARCH_DEPTH` levels, symbolic links
  not followed, earlier merges skipped): a CI job downloads every shard's artifact
  into one folder and passes it.
* **Refused** (exit 3, :class:`ShardMismatch`, naming the folders): shards of
  different plans (``plan_fingerprint``), of different suite seeds, of different N or
  split differently (``--durations``), a shard given twice, a ``suite.json`` that
  cannot be read or has no shard record. Nothing is written then.
* **A missing shard** is reported by number on stderr (``shard 3/8 is missing``); its
  entries become ``error`` testcases ("not run: shard 3/8 is missing"), so the merge
  still writes everything and its exit code says some entries did not run.
* Writes ``<results-dir>/<plan>-merged/<stamp>/`` with one ``junit.xml`` (a testcase
  per plan entry, in plan order), one ``summary.txt`` and one ``suite.json`` (its
  ``merged_from`` lists the shards), and rewrites ``<results-dir>/index.html``
  (:func:`harness.report.write_index`) to link every run's report. Links are relative,
  so a shard folder outside the results folder is first copied into it, where the shard
  would have written it (``<results-dir>/<plan>-shard-K-of-N/<stamp>/``): the results
  folder is then complete on its own, as one CI artifact.
* The exit code has the semantics of ``suite`` (:mod:`harness.run._plan`) over all
  entries: 130 if a shard was interrupted, else 1 if a verdict differed from its
  expectation, else 4 if an entry could not run (a missing shard's included), else
  5 if one was unexpectedly unknown, else 0.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core import SUITE, InputError, TestSpec, new_stamped_dir
from harness.report import write_index
from harness.run._bugs import format_bug_summary, judge_bug_groups
from harness.run._outcome import EntryResult, Status, SuiteOutcome
from harness.run._outputs import format_summary, write_outputs
from harness.run._plan import EXPECTS, Expect, Plan, PlanEntry
from harness.run._progress import format_seconds
from harness.run._shard import split_plan

if TYPE_CHECKING:
    import argparse

#: How deep below a DIR shard folders are looked for (``<artifact>/<plan>-shard-K-of-N/<stamp>/suite.json``).
SEARCH_DEPTH = 4
_STATUSES = ("pass", "fail", "error", "interrupted", "skipped")


class ShardMismatch(InputError):
    """Shards that are not parts of one suite run (exit 3, as any bad input)."""


@dataclass(slots=True)
class ShardResults:
    """One shard's ``suite.json``, read."""

    folder: Path
    data: dict[str, Any]

    @property
    def index(self) -> int:
        return int(self.data["shard"]["index"])

    @property
    def count(self) -> int:
        return int(self.data["shard"]["count"])

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"


def find_shards(dirs: list[str]) -> list[Path]:
    """The shard folders in or below each of ``dirs`` (see the module docstring)."""
    found: list[Path] = []
    for given in dirs:
        top = Path(given)
        if not top.is_dir():
            raise InputError(top, None, "no such folder; give shards' results folders (each holds a suite.json) "
                                        "or a folder they are in")
        if (top / SUITE).is_file():
            found.append(top)
            continue
        here_found = []
        for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
            here = Path(dirpath)
            if SUITE in filenames and not _is_merge(here / SUITE):
                here_found.append(here)
                dirnames.clear()
                continue
            if len(here.relative_to(top).parts) >= SEARCH_DEPTH:
                dirnames.clear()
            dirnames[:] = sorted(d for d in dirnames if not (here / d).is_symlink())
        if not here_found:
            raise InputError(top, None, f"no shard results (a {SUITE}) in or up to {SEARCH_DEPTH} levels below it")
        found.extend(here_found)
    unique: dict[Path, Path] = {}
    for folder in found:
        unique.setdefault(folder.resolve(), folder)
    return list(unique.values())


def _is_merge(path: Path) -> bool:
    try:
        return "merged_from" in json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


def read_shard(folder: Path) -> ShardResults:
    path = folder / SUITE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ShardMismatch(path, None, f"cannot read it: {e}") from None
    if not isinstance(data, dict):
        raise ShardMismatch(path, None, "not a suite.json: not a JSON object")
    shard = data.get("shard")
    if not (isinstance(shard, dict) and isinstance(shard.get("index"), int) and isinstance(shard.get("count"), int)
            and isinstance(data.get("plan_entries"), list) and isinstance(data.get("entries"), list)
            and isinstance(data.get("plan_fingerprint"), str)):
        raise ShardMismatch(path, None, "it has no shard record (shard, plan_fingerprint, plan_entries): written by "
                                        "an older etcd-harness, or not by `etcd-harness suite`; run the suite again")
    return ShardResults(folder=folder, data=data)


def _refuse_mixed(shards: list[ShardResults], key: str, what: str, fix: str) -> None:
    values: dict[str, list[ShardResults]] = {}
    for s in shards:
        values.setdefault(json.dumps(s.data.get(key) if key != "split" else s.data["shard"].get("split")),
                          []).append(s)
    if len(values) > 1:
        groups = "; ".join(f"{v}: " + ", ".join(f"{s.folder} (shard {s.label})" for s in group)
                           for v, group in values.items())
        first = shards[0].folder / SUITE
        raise ShardMismatch(first, None, f"these shards are not parts of one suite run: {what} ({groups}). {fix}")


def check_shards(shards: list[ShardResults]) -> None:
    """Refuse shards that do not belong together (see the module docstring)."""
    _refuse_mixed(shards, "plan_fingerprint", "they ran different plans",
                  "Merge shards of one plan, from one pipeline.")
    _refuse_mixed(shards, "suite_seed", "they ran with different suite seeds",
                  "Run every shard with the same --seed.")
    counts = {s.count for s in shards}
    if len(counts) > 1:
        listing = ", ".join(f"{s.folder} (shard {s.label})" for s in shards)
        raise ShardMismatch(shards[0].folder / SUITE, None,
                            f"these shards split the plan into different numbers of shards: {listing}")
    _refuse_mixed(shards, "split", "they were split differently (different --durations files?)",
                  "Give every shard the same --durations, or none.")
    seen: dict[int, ShardResults] = {}
    for s in shards:
        if s.index in seen:
            raise ShardMismatch(s.folder / SUITE, None, f"shard {s.label} is given twice: {seen[s.index].folder} and "
                                                         f"{s.folder}; pass one of them")
        seen[s.index] = s


def _same_suite_json(a: Path, b: Path) -> bool:
    try:
        return (a / SUITE).read_bytes() == (b / SUITE).read_bytes()
    except OSError:
        return False


def _plan_entry(item: dict[str, Any], path: Path) -> PlanEntry:
    try:
        expect: Expect = item["expect"] if item["expect"] in EXPECTS else "valid"
        return PlanEntry(name=str(item["name"]), spec=TestSpec.from_json(item["spec"]), expect=expect,
                         line=int(item["line"]), seed_given=bool(item.get("seed_given", True)),
                         bug=tuple(dict(b) for b in item.get("bug") or ()))
    except (KeyError, TypeError, ValueError) as e:
        raise ShardMismatch(path, None, f"a plan entry cannot be read ({type(e).__name__}: {e})") from None


def _run_dir(shard: ShardResults, item: dict[str, Any]) -> Path | None:
    """Where an entry's run is now: inside the shard folder (wherever that was copied), else where it was."""
    inside = item.get("run_dir_in_suite")
    if isinstance(inside, str) and (shard.folder / inside).is_dir():
        return shard.folder / inside
    given = item.get("run_dir")
    return Path(given) if isinstance(given, str) and Path(given).is_dir() else None


def _entry_result(entry: PlanEntry, shard: ShardResults, item: dict[str, Any]) -> EntryResult:
    status: Status = item["status"] if item.get("status") in _STATUSES else "error"
    verdict = item.get("verdict")
    ops = item.get("ops_per_s")
    return EntryResult(entry=entry, status=status, verdict=verdict if verdict in (True, False, "unknown") else None,
                       message=str(item.get("message") or ""), run_dir=_run_dir(shard, item),
                       duration_s=float(item.get("duration_s") or 0.0),
                       ops_per_s=float(ops) if isinstance(ops, int | float) else None,
                       detail=str(item.get("detail") or ""))


def merge_shards(folders: list[Path], results_root: Path) -> tuple[SuiteOutcome, list[str]]:
    """Check, combine and write (see the module docstring). Returns the merged outcome and the missing
    shards (``"3/8"``)."""
    shards = sorted((read_shard(f) for f in folders), key=lambda s: s.index)
    check_shards(shards)
    first = shards[0]
    count = first.count
    path = first.folder / SUITE
    entries = [_plan_entry(item, path) for item in sorted(first.data["plan_entries"], key=lambda i: i["index"])]
    plan = Plan(name=str(first.data.get("suite") or "suite"), path=Path(str(first.data.get("plan") or "plan.yaml")),
                description="", entries=tuple(entries), suite_seed=int(first.data.get("suite_seed") or 0))
    by_name = {e.name: e for e in entries}
    assigned = {str(item["name"]): int(item["shard"]) for item in first.data["plan_entries"]}
    missing = sorted(set(range(1, count + 1)) - {s.index for s in shards})

    out = new_stamped_dir(results_root / f"{plan.name}-merged")
    root = results_root.resolve()
    for s in shards:  # relative links need the runs inside the results folder
        if not s.folder.resolve().is_relative_to(root):
            # where the shard would have written it: <results>/<plan>-shard-K-of-N/<stamp>/ (within the
            # index's depth); a fresh stamp if that is taken
            copy = results_root / s.folder.parent.name / s.folder.name
            if _same_suite_json(copy, s.folder):  # copied by an earlier merge
                s.folder = copy
                continue
            if copy.exists():
                copy = new_stamped_dir(results_root / s.folder.parent.name)
            shutil.copytree(s.folder, copy, symlinks=True, dirs_exist_ok=True)
            s.folder = copy

    results: dict[str, EntryResult] = {}
    for s in shards:
        for item in s.data["entries"]:
            entry = by_name.get(str(item.get("name")))
            if entry is None:
                raise ShardMismatch(s.folder / SUITE, None, f"entry {item.get('name')!r} is not in the plan its "
                                                             "shard record lists")
            results[entry.name] = _entry_result(entry, s, item)
    ordered = []
    for e in entries:
        if e.name in results:
            ordered.append(results[e.name])
        elif assigned.get(e.name) in missing:
            ordered.append(EntryResult(entry=e, status="error",
                                       message=f"not run: shard {assigned[e.name]}/{count} is missing"))
        else:
            ordered.append(EntryResult(entry=e, status="error",
                                       message=f"not in the results of shard {assigned.get(e.name)}/{count}"))
    # A bug's seeds may have run in different shards, which judged them one by one: judge the groups here.
    ordered = judge_bug_groups(ordered)
    outcome = SuiteOutcome(plan=plan, suite_dir=out, results=ordered,
                           interrupted=any(bool(s.data.get("interrupted")) for s in shards),
                           started_at=min(str(s.data.get("started_at") or "") for s in shards),
                           duration_s=max(float(s.data.get("duration_s") or 0.0) for s in shards))
    merged_from = [{"shard": s.label, "folder": str(s.folder), "exit_code": s.data.get("exit_code"),
                    "duration_s": s.data.get("duration_s"), "interrupted": s.data.get("interrupted")}
                   for s in shards]
    write_outputs(outcome, full_plan=plan, shards=split_plan(plan, 1),
                  extra={"merged_from": merged_from, "missing_shards": missing,
                         "wall_time_note": "duration_s is the slowest shard's (the shards ran side by side)"})
    write_index(results_root)
    return outcome, [f"{k}/{count}" for k in missing]


def merge_command(args: argparse.Namespace) -> int:
    """``etcd-harness merge DIR... [--results-dir DIR]``."""
    results_root = Path(args.results_dir)
    results_root.mkdir(parents=True, exist_ok=True)
    outcome, missing = merge_shards(find_shards(list(args.dirs)), results_root)
    for label in missing:
        n = sum(1 for r in outcome.results if r.message == f"not run: shard {label} is missing")
        print(f"etcd-harness merge: shard {label} is missing: its {n} entries are counted as errors (not run)",
              file=sys.stderr)
    print(format_summary(outcome))
    if bugs := format_bug_summary(outcome):
        print(bugs)
    print(f"merged {len(outcome.results)} entries; slowest shard {format_seconds(outcome.duration_s)}; "
          f"index: {results_root / 'index.html'}")
    return outcome.exit_code
