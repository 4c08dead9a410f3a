"""Sharding a plan (``suite --shard K/N``): every entry in exactly one shard, balanced by expected time,
deterministic, and seeds that do not depend on the split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.core import EXIT_USAGE, EXIT_VALID, UsageError
from harness.run import load_plan, parse_plan
from harness.run._cli import main
from harness.run._plan import derive_seed, expected_s
from harness.run._shard import entry_weights, load_durations, parse_shard, split_digest, split_plan, wall_time_s

NIGHTLY = Path(__file__).parents[2] / "suites" / "nightly.yaml"


@pytest.mark.parametrize("count", range(1, 9))
def test_nightly_split_puts_every_entry_in_exactly_one_shard_within_20_percent(count: int) -> None:
    plan = load_plan(NIGHTLY, suite_seed=1)
    shards = split_plan(plan, count)
    names = [e.name for s in shards for e in s.entries]
    assert sorted(names) == sorted(e.name for e in plan.entries)
    assert len(names) == len(set(names))
    loads = [s.expected_s for s in shards]
    assert loads == pytest.approx([sum(expected_s(e.spec) for e in s.entries) for s in shards])
    heaviest = max(expected_s(e.spec) for e in plan.entries)
    assert max(loads) - min(loads) <= heaviest  # LPT's bound, whatever the plan
    assert (max(loads) - min(loads)) / max(loads) <= 0.20
    # Each shard keeps the plan's order.
    order = {e.name: i for i, e in enumerate(plan.entries)}
    for s in shards:
        assert [order[e.name] for e in s.entries] == sorted(order[e.name] for e in s.entries)


@settings(max_examples=200, deadline=None)
@given(weights=st.lists(st.integers(1, 600), min_size=0, max_size=40), count=st.integers(1, 10))
def test_any_split_is_a_partition_within_the_heaviest_entry(weights: list[int], count: int) -> None:
    """Random plans: each entry's time limit is its weight's driver; the LPT bound holds for all of them."""
    text = "tests:\n" + "".join(f"  - {{name: e{i}, time_limit: {w}}}\n" for i, w in enumerate(weights))
    if not weights:
        text = "tests:\n  - {name: e0, time_limit: 1}\n"
    plan = parse_plan(text, "p.yaml", suite_seed=3)
    shards = split_plan(plan, count)
    assert len(shards) == count and [s.index for s in shards] == list(range(1, count + 1))
    names = sorted(e.name for s in shards for e in s.entries)
    assert names == sorted(e.name for e in plan.entries)
    loads = [s.expected_s for s in shards]
    assert max(loads) - min(loads) <= max(entry_weights(plan)) + 1e-9
    assert split_plan(plan, count) == shards  # deterministic


def test_the_split_does_not_depend_on_the_suite_seed_and_seeds_do_not_depend_on_the_split() -> None:
    a, b = load_plan(NIGHTLY, suite_seed=1), load_plan(NIGHTLY, suite_seed=2)
    assert split_digest(split_plan(a, 8)) == split_digest(split_plan(b, 8))
    seeds = {e.name: e.spec.seed for e in a.entries}
    assert len(set(seeds.values())) == len(seeds)  # distinct entries, distinct seeds
    assert seeds != {e.name: e.spec.seed for e in b.entries}
    for count in range(1, 9):
        for shard in split_plan(a, count):
            assert all(e.spec.seed == seeds[e.name] for e in shard.entries)


def test_an_entry_seed_depends_on_its_name_and_the_suite_seed_not_its_position() -> None:
    one = parse_plan("tests:\n  - {name: x}\n  - {name: y}\n", suite_seed=9)
    two = parse_plan("tests:\n  - {name: w}\n  - {name: y}\n  - {name: x}\n", suite_seed=9)
    assert {e.name: e.spec.seed for e in one.entries} == {k: v for k, v in
                                                          ((e.name, e.spec.seed) for e in two.entries) if k != "w"}
    assert one.entries[0].spec.seed == derive_seed(9, "x")
    given_seed = parse_plan("tests:\n  - {name: x, seed: 5}\n", suite_seed=9)
    assert given_seed.entries[0].spec.seed == 5 and given_seed.entries[0].seed_given


def test_the_fingerprint_names_the_plan_not_its_suite_seed() -> None:
    text = "tests:\n  - {name: x}\n  - {name: y, seed: 3}\n"
    here, there = parse_plan(text, "a/p.yaml", suite_seed=1), parse_plan(text, "/ci/b/p.yaml", suite_seed=2)
    assert here.fingerprint() == there.fingerprint()  # the plan's path and the suite seed are not in it
    changed = text.replace("name: x", "name: x, time_limit: 30")
    assert parse_plan(changed, suite_seed=1).fingerprint() != parse_plan(text, suite_seed=1).fingerprint()
    reseeded = text.replace("seed: 3", "seed: 4")
    assert parse_plan(reseeded, suite_seed=1).fingerprint() != parse_plan(text, suite_seed=1).fingerprint()


def test_more_shards_than_entries_leaves_empty_shards() -> None:
    plan = parse_plan("tests:\n  - {name: x}\n  - {name: y}\n", suite_seed=1)
    shards = split_plan(plan, 3)
    assert [len(s.entries) for s in shards] == [1, 1, 0]
    assert shards[2].expected_s == 0


def test_expected_time_model_matches_the_nightly_figure() -> None:
    """~85 s per 60 s, 5-node entry with a fault (the nightly plan's comment); faults and size cost more."""
    plan = parse_plan("tests:\n  - {name: a, nodes: 5, time_limit: 60, nemesis: partition}\n"
                      "  - {name: b, nodes: 3, time_limit: 60, nemesis: none}\n"
                      "  - {name: c, nodes: 5, time_limit: 60, nemesis: kill}\n", suite_seed=1)
    a, b, c = (expected_s(e.spec) for e in plan.entries)
    assert 80 <= a <= 90
    assert b < a < c


@pytest.mark.parametrize(("text", "why"), [
    ("2", "expected K/N"), ("0/2", "K must be 1 to N"), ("3/2", "K must be 1 to N"), ("1/0", "N must be"),
    ("a/b", "expected K/N"), ("1/2/3", "expected K/N"),
])
def test_bad_shard_flags_say_what_is_allowed(text: str, why: str) -> None:
    with pytest.raises(UsageError, match=why):
        parse_shard(text)
    assert parse_shard(" 2/8 ") == (2, 8)


def test_measured_durations_reweigh_the_split(tmp_path: Path) -> None:
    plan = parse_plan("tests:\n" + "".join(f"  - {{name: e{i}}}\n" for i in range(4)), suite_seed=1)
    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps({"entries": [
        {"name": "e0", "status": "pass", "duration_s": 300.0},
        {"name": "e1", "status": "fail", "duration_s": 100.0},
        {"name": "e2", "status": "error", "duration_s": 999.0},  # no verdict: not a measurement
        {"name": "e3", "status": "skipped", "duration_s": 0.0},
    ]}))
    durations = load_durations(tmp_path)
    assert durations == {"e0": 300.0, "e1": 100.0}
    shards = split_plan(plan, 2, durations)
    assert [e.name for e in shards[0].entries] == ["e0"]  # the long one alone
    assert split_digest(shards) != split_digest(split_plan(plan, 2))


def test_wall_time_with_jobs() -> None:
    assert wall_time_s([10, 10, 10, 10], 1) == 40
    assert wall_time_s([10, 10, 10, 10], 2) == 20
    assert wall_time_s([30, 10, 10, 10], 2) == 30
    assert wall_time_s([], 3) == 0


def test_dry_run_of_each_shard_lists_each_entry_once(capsys: pytest.CaptureFixture[str]) -> None:
    plan = load_plan(NIGHTLY, suite_seed=5)
    listed: list[str] = []
    for k in (1, 2, 3):
        assert main(["suite", str(NIGHTLY), "--dry-run", "--shard", f"{k}/3", "--seed", "5"]) == EXIT_VALID
        out = capsys.readouterr().out
        assert f"shard {k}/3: " in out and "expected wall time on 3 runners" in out
        rows = out.split("\n\n")[0].splitlines()[2:]
        listed += [row.split()[1] for row in rows]
        for row in rows:  # the seed column is the plan's, with this suite seed
            name, seed = row.split()[1], row.split()[6]
            assert int(seed) == next(e.spec.seed for e in plan.entries if e.name == name)
    assert sorted(listed) == sorted(e.name for e in plan.entries)


def test_shard_without_suite_seed_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suite", str(NIGHTLY), "--dry-run", "--shard", "1/2"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "give --seed S, the same in every shard" in err and "Traceback" not in err
    assert main(["suite", str(NIGHTLY), "--dry-run", "--shard", "1/2", "--jobs", "0", "--seed", "1"]) == EXIT_USAGE
    assert "--jobs 0: give 1 to" in capsys.readouterr().err
