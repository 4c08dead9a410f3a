"""The CI files in docs/ci/ are valid YAML of the shape their CI reads, and every `etcd-harness` command
they run is one the command line accepts, on a plan that exists, with shards that cover the plan."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.run._cli import build_parser
from harness.run._shard import parse_shard

ROOT = Path(__file__).parents[2]
GITHUB = ROOT / "docs" / "ci" / "github-actions.yml"
GITLAB = ROOT / "docs" / "ci" / "gitlab-ci.yml"


def commands(script: str, values: dict[str, str]) -> list[list[str]]:
    """The `etcd-harness` command lines in a shell script, with CI variables replaced by ``values``."""
    out = []
    for line in script.splitlines():
        line = line.strip()
        if not line.startswith("etcd-harness "):
            continue
        for pattern, value in values.items():
            line = re.sub(pattern, value, line)
        assert "$" not in line, f"an unexpanded variable in {line!r}"
        out.append(shlex.split(line)[1:])
    return out


def accepted(argv: list[str]) -> Any:
    """argparse's reading of ``argv``; a rejected command fails the test (argparse exits with 2)."""
    try:
        return build_parser().parse_args(argv)
    except SystemExit as e:
        pytest.fail(f"etcd-harness {shlex.join(argv)} is rejected by the command line (exit {e.code})")


def check_suite_and_merge(cmds: list[list[str]], count: int) -> None:
    suites = [accepted(c) for c in cmds if c[0] == "suite"]
    merges = [accepted(c) for c in cmds if c[0] == "merge"]
    assert len(suites) == count and merges, "a suite per shard and a merge"
    shards = sorted(parse_shard(args.shard) for args in suites)
    assert shards == [(k, count) for k in range(1, count + 1)], "every shard once, of the same N"
    for args in suites:
        assert (ROOT / args.plan).is_file(), args.plan
        assert args.seed is not None, "every shard needs the same --seed"
    assert len({args.seed for args in suites}) == 1
    assert len({args.results_dir for args in suites}) == 1


def test_github_actions_workflow() -> None:
    wf = yaml.safe_load(GITHUB.read_text())
    jobs = wf["jobs"]
    shard_job, merge_job = jobs["shard"], jobs["merge"]
    matrix = shard_job["strategy"]["matrix"]["shard"]
    assert shard_job["strategy"]["fail-fast"] is False  # one failing shard must not cancel the others
    assert merge_job["needs"] == "shard" and merge_job["if"] == "always()"
    cmds = []
    for k in matrix:
        for step in shard_job["steps"]:
            cmds += commands(step.get("run", ""), {r"\$\{\{ matrix\.shard \}\}": str(k),
                                                   r"\$\{\{ github\.run_id \}\}": "123"})
    for step in merge_job["steps"]:
        cmds += commands(step.get("run", ""), {})
    check_suite_and_merge([c for c in cmds if c[0] != "clean"], len(matrix))
    # what a shard uploads is what the merge downloads
    upload = next(s for s in shard_job["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    download = next(s for s in merge_job["steps"] if s.get("uses", "").startswith("actions/download-artifact"))
    assert upload["if"] == "always()"
    names = [upload["with"]["name"].replace("${{ matrix.shard }}", str(k)) for k in matrix]
    pattern = re.compile(download["with"]["pattern"].replace("*", ".*"))
    assert all(pattern.fullmatch(n) for n in names)
    suite_args = accepted(commands(next(s["run"] for s in shard_job["steps"] if "suite" in s.get("run", "")),
                                   {r"\$\{\{ [a-z._]+ \}\}": "1"})[0])
    assert upload["with"]["path"].startswith(f"{suite_args.results_dir}/nightly-shard-")
    assert download["with"]["path"] == accepted(commands(merge_job["steps"][-2]["run"], {})[0]).results_dir


def test_gitlab_ci_pipeline() -> None:
    ci = yaml.safe_load(GITLAB.read_text())
    shard_job, merge_job = ci["nightly-shard"], ci["nightly-merge"]
    assert ci["stages"] == ["shard", "merge"] and shard_job["stage"] == "shard" and merge_job["stage"] == "merge"
    count = shard_job["parallel"]
    cmds = []
    for k in range(1, count + 1):
        cmds += commands("\n".join(shard_job["script"]), {r"\$CI_NODE_INDEX": str(k), r"\$CI_NODE_TOTAL": str(count),
                                                          r"\$CI_PIPELINE_ID": "123"})
    cmds += commands("\n".join(merge_job["script"]), {})
    check_suite_and_merge(cmds, count)
    assert shard_job["artifacts"]["when"] == "always" and merge_job["when"] == "always"
    assert merge_job["needs"] == [{"job": "nightly-shard", "artifacts": True}]
    assert all(cmd[0] in ("suite", "merge", "clean") for cmd in commands("\n".join(shard_job["after_script"]), {})
               + cmds)
