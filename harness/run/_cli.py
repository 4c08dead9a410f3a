"""The ``etcd-harness`` command line. Exit codes are listed in ``harness.core``.

The runner, the suites, the workloads and the faults are imported by the
subcommands that need them (each such import is marked ``# lazy: start-up``):
``etcd-harness check`` needs only the checkers. Measured on a 2-core machine:
``import checkers`` takes 0.15 s, ``import harness.run._runner`` 0.40 s.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import logging
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from checkers import CONSISTENCY_MODELS, MODELS
from harness.core import (
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_UNKNOWN,
    EXIT_USAGE,
    EXIT_VALID,
    HISTORY,
    INDEX,
    LATEST,
    RESULTS,
    HarnessError,
    TestSpec,
    UsageError,
)
from harness.run._check import DEFAULT_MEMORY_MB, DEFAULT_TIME_LIMIT_S, check_command

EXIT_CODES_HELP = """exit codes:
  0    every verdict valid
  1    some verdict invalid
  2    usage error
  3    input error (history file, YAML plan; merge: shards that are not of one suite run)
  4    infrastructure error (Docker, image, cluster)
  5    no verdict invalid, but some unknown (a time or memory limit was hit)
  130  interrupted; everything was torn down
"""

#: The "examples:" part of each subcommand's --help (before the exit codes).
EXAMPLES = {
    "main": """examples:
  etcd-harness test --workload register --nemesis partition --nodes 5 --time-limit 60
  etcd-harness report results/latest
  etcd-harness suite suites/ci.yaml
  etcd-harness --version
""",
    "test": """examples:
  etcd-harness test --workload register --nemesis partition --nodes 5 --time-limit 60 --seed 42
  etcd-harness test --workload lock-set --nemesis pause:lock-holder --option hold_max=5
  etcd-harness test --workload counter --nemesis none --nodes 1 --time-limit 10
  etcd-harness test --replay results/latest        # same config, seed and fault schedule
""",
    "check": """examples:
  etcd-harness check history.jsonl --model cas-register
  etcd-harness check ../shared/corpus/porcupine/jepsen/*.log --format jepsen-log
  etcd-harness check history.jsonl --minimal-out minimal.jsonl
  etcd-harness check history.jsonl --model list-append --consistency-model serializable
  etcd-harness check --run results/latest          # re-check a run: rewrites results.json and report.html
""",
    "report": """examples:
  etcd-harness report results/latest               # re-checks first if history.jsonl is newer than results.json
  etcd-harness report results/latest --recheck     # re-check whatever the file times say
  etcd-harness report results/register-partition/20250101T030000 --index
""",
    "suite": """examples:
  etcd-harness suite suites/ci.yaml                # what `make test-partition` runs
  etcd-harness suite suites/nightly.yaml --dry-run
  etcd-harness suite suites/canaries.yaml --results-dir /tmp/results
  etcd-harness suite suites/nightly.yaml --shard 2/8 --seed 1234 --dry-run
  etcd-harness suite suites/nightly.yaml --jobs 4
""",
    "merge": """examples:
  etcd-harness merge results/nightly-shard-*-of-8/*/     # one junit.xml, summary and exit code for the suite
  etcd-harness merge artifacts/ --results-dir results
""",
    "clean": """examples:
  etcd-harness clean                 # every leftover; runs still in progress on this host are spared
  etcd-harness clean --all           # those too
  etcd-harness clean --run-id register-partition-20250101t030000-4242
""",
}


def _epilog(command: str) -> str:
    return f"{EXAMPLES[command]}\n{EXIT_CODES_HELP}"


class _Version(argparse.Action):
    """``--version``: the version is read (importlib.metadata, 0.1 s) only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        from harness.run._version import harness_version  # lazy: start-up

        print(f"etcd-harness {harness_version()}")
        parser.exit()


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be zero or more")
    return v


def _number(text: str) -> int | float:
    """``"3"`` → 3, ``"2.5"`` → 2.5, as YAML reads them: the bounds are checked by ``validate_spec``,
    so that the CLI and a plan say the same thing about the same value."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


class _TestHelp(argparse.Action):
    """``test --help``: the usual help, then the workloads and their options (from their declarations),
    built only when asked, so that other subcommands do not import the workloads."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        from harness.run._validate import options_help  # lazy: start-up
        from workloads import WORKLOADS  # lazy: start-up

        for action in parser._actions:
            if action.dest == "workload":
                action.help = f"what clients do: one of {', '.join(WORKLOADS)} (default {action.default})"
        parser.epilog = f"{options_help()}\n{_epilog('test')}"
        parser.print_help()
        parser.exit()


def add_test_arguments(p: argparse.ArgumentParser) -> None:
    """The ``test`` flags. Values are checked by ``validate_spec`` (the rules YAML plans use too)."""
    d = TestSpec()
    p.add_argument("--workload", default=d.workload, help=f"what clients do (default {d.workload})")
    p.add_argument("--nemesis", default=",".join(d.nemesis),
                   help="faults, combined with ',' or '+', or 'all' / 'none' (default partition; no faults: "
                        "'none', never ''); FAULT:TARGET picks one target, e.g. partition:isolate-leader, "
                        "kill:leader, pause:lock-holder")
    p.add_argument("--nodes", type=_number, default=d.nodes, help="cluster size: 1, 3, 5 or 7 (default 5)")
    p.add_argument("--time-limit", type=_number, default=d.time_limit, help="seconds of client ops, > 0")
    p.add_argument("--concurrency", type=_number, default=d.concurrency, help="client processes, 1 or more")
    p.add_argument("--rate", type=_number, default=d.rate,
                   help="target ops/s of all client processes together (default 200; 0 = as fast as they go). "
                        "Each process invokes on its own schedule, one op every concurrency/rate s on average "
                        "(each gap drawn from 0.5-1.5x that, not added to the op's latency), so the total "
                        "reaches RATE whenever ops take less than concurrency/rate s; results.json records "
                        "stats.offered_ops_per_s and the ops_per_s reached over the op phase")
    p.add_argument("--seed", type=_number, default=None,
                   help="seed for ops and faults, 0 or more (default: random, recorded)")
    p.add_argument("--image", default=d.image, help=f"etcd image tag (default {d.image})")
    p.add_argument("--name", default="", help="test name for the results folder")
    p.add_argument("--results-dir", default=d.results_dir, help="where runs are written (default results)")
    p.add_argument("--nemesis-interval", type=_number, default=d.nemesis_interval,
                   help="mean seconds between fault start/stop, > 0 (default 5)")
    p.add_argument("--ops-per-key", type=_number, default=d.ops_per_key,
                   help="register: ops before a key retires, 1 or more")
    p.add_argument("--read-mode", default=d.read_mode,
                   help="register/counter reads: linearizable, or serializable, which may be stale (a canary)")
    p.add_argument("--counter-mode", default=d.counter_mode,
                   help="counter increments: safe txn, or unsafe read-then-put (a canary)")
    p.add_argument("--ttl", type=_number, default=d.ttl,
                   help="lease / v2 TTL seconds for lock workloads, 1 or more")
    p.add_argument("--request-timeout", type=_number, default=d.request_timeout, help="seconds per request, > 0")
    p.add_argument("--recovery-timeout", type=_number, default=d.recovery_timeout,
                   help="seconds the cluster may take to recover after heal, > 0")
    p.add_argument("--check-time-limit", type=_number, default=d.check_time_limit,
                   help="seconds the checkers may take, > 0; past it the verdict is unknown")
    p.add_argument("--check-memory-mb", type=_number, default=d.check_memory_mb,
                   help="MiB the linearizability search may use, 1 or more; past it the verdict is unknown")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a workload option (repeatable; see the list below); VALUE is JSON (true, 3) or else "
                        "a string, e.g. --option skip_event=true")
    p.add_argument("--etcd-arg", action="append", default=[], metavar="FLAG", dest="etcd_arg",
                   help="an extra flag for every etcd member (repeatable), checked against the image's "
                        "`etcd --help` before the cluster starts; write it with '=', e.g. "
                        "--etcd-arg=--experimental-initial-corrupt-check=true")
    p.add_argument("--replay", metavar="RUN_DIR", help="rerun a stored run with its config, seed and fault schedule")


def spec_from_args(args: argparse.Namespace) -> TestSpec:
    """The validated spec the ``test`` flags give (``validate_spec``); UsageError saying what is allowed."""
    from harness.run._validate import spec_from_fields, validate_spec  # lazy: start-up
    from nemesis import FAULTS  # lazy: start-up

    if not args.replay and not args.nemesis.strip(" ,+"):
        raise UsageError(f"--nemesis {args.nemesis!r} names no fault; for a run without faults say --nemesis none, "
                         f"else name faults ({', '.join(FAULTS)}, or all)")
    if args.replay:
        spec = TestSpec.load(Path(args.replay) / "config.json")
        # Same config, seed and fault schedule; only where the new run is written follows this command.
        return validate_spec(dataclasses.replace(spec, results_dir=args.results_dir))
    return spec_from_fields(
        workload=args.workload, nemesis=args.nemesis, nodes=args.nodes, time_limit=args.time_limit,
        concurrency=args.concurrency, rate=args.rate,
        seed=args.seed if args.seed is not None else random.randrange(1 << 31),
        image=args.image, name=args.name, results_dir=args.results_dir, nemesis_interval=args.nemesis_interval,
        ops_per_key=args.ops_per_key, read_mode=args.read_mode, counter_mode=args.counter_mode, ttl=args.ttl,
        request_timeout=args.request_timeout, recovery_timeout=args.recovery_timeout,
        check_time_limit=args.check_time_limit, check_memory_mb=args.check_memory_mb,
        options=_parse_options(args.option), etcd_args=tuple(args.etcd_arg),
    )


def _parse_options(items: Sequence[str]) -> dict[str, Any]:
    """``["skip_event=true", "mode=x"]`` → ``{"skip_event": True, "mode": "x"}``; UsageError if malformed."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--option {item!r}: expected KEY=VALUE, e.g. --option skip_event=true")
        try:
            options[key.strip()] = json.loads(text)
        except ValueError:
            options[key.strip()] = text
    return options


def exit_code_for(valid: Any) -> int:
    if valid is True:
        return EXIT_VALID
    if valid is False:
        return EXIT_INVALID
    return EXIT_UNKNOWN


def print_summary(outcome: Any) -> None:
    print_results(outcome.run_dir, outcome.results)


def print_results(run_dir: Path, r: dict[str, Any]) -> None:
    """The verdict of a run, each checker's, the stats and the timing, for a person."""
    stats = r.get("stats") or {}
    timing = r.get("timing") or {}
    print(f"\n{_verdict_word(r.get('valid'))}  {run_dir}")
    for name, c in (r.get("checkers") or {}).items():
        v = {True: "valid", False: "INVALID"}.get(c.get("valid"), "unknown")
        print(f"  {name:<12} {v:<8} {c.get('reason', '')}")
    if not r.get("checkers") and r.get("reason"):
        print(f"  {r['reason']}")
    offered = f"offered {stats['offered_ops_per_s']} ops/s, " if stats.get("offered_ops_per_s") is not None else ""
    print(f"  ops {stats.get('ops', 0)} ({stats.get('by_type', {})}), {offered}{stats.get('ops_per_s', 0)} ops/s, "
          f"median latency {stats.get('latency_ms_median')} ms, nemesis ops {stats.get('nemesis_ops', 0)}")
    print(f"  cluster start {timing.get('cluster_start_s')} s, recovery {timing.get('recovery_s')} s, "
          f"check {timing.get('check_s')} s, total {timing.get('total_s')} s")
    for problem in r.get("fault_problems") or []:
        if isinstance(problem, dict):
            print(f"  fault problem: {problem.get('f', '?')}: {problem.get('problem', '')}")
    if r.get("checked_at"):
        print(f"  checked {r['checked_at']} by etcd-harness {r.get('harness_version', '?')}")
    report = run_dir / "report.html"
    if report.exists():
        print(f"  report: {report}")


def results_roots(run_dir: Path, *, parent_of_test: bool = False) -> list[Path]:
    """The results roots whose index lists ``run_dir``: each folder above it (up to the depth the index
    searches) that holds a ``latest`` link or an ``index.html``, nearest first; with ``parent_of_test``
    also ``<root>/<test>/<stamp>``'s root, whether or not it has either yet."""
    here = run_dir.resolve()
    roots = [d for d in list(here.parents)[1:5] if (d / LATEST).is_symlink() or (d / INDEX).is_file()]
    if parent_of_test and here.parent.parent not in roots:
        roots.insert(0, here.parent.parent)
    return roots


def _verdict_word(valid: Any) -> str:
    return "VALID" if valid is True else "INVALID" if valid is False else "UNKNOWN"


def cmd_test(args: argparse.Namespace) -> int:
    from harness.run._runner import run_test  # lazy: start-up


    spec = spec_from_args(args)
    print(f"etcd-harness: {spec.test_name}, {spec.nodes} nodes, {spec.time_limit:g} s, seed {spec.seed}", flush=True)
    outcome = run_test(spec)
    print_summary(outcome)
    return exit_code_for(outcome.valid)


def cmd_check(args: argparse.Namespace) -> int:
    if args.run is not None:
        return cmd_check_run(args)

    return check_command(args.paths, args.model, args.format, args.time_limit, args.memory_mb, as_json=args.json,
                         minimal_out=args.minimal_out, lenient=args.lenient,
                         consistency_model=args.consistency_model, shrink=not args.no_shrink)


def _run_dir_arg(text: str) -> Path:
    run_dir = Path(text)
    if not (run_dir / HISTORY).exists() and not (run_dir / RESULTS).exists():
        raise UsageError(f"{run_dir} is not a run directory (no {HISTORY} or {RESULTS} in it); "
                         "pass one such as results/latest")
    return run_dir


def _rewrite_pages(run_dir: Path, *, index: bool = False) -> None:
    from harness.report import write_index, write_report  # lazy: start-up

    print(write_report(run_dir))
    for root in results_roots(run_dir, parent_of_test=index):
        print(write_index(root))


def cmd_check_run(args: argparse.Namespace) -> int:
    """``check --run RUN_DIR``: the run's own checkers on its history; rewrites results.json and report.html."""
    from harness.run._recheck import recheck_run  # lazy: start-up

    if args.paths:
        raise UsageError("give history files, or --run RUN_DIR, not both")
    run_dir = _run_dir_arg(args.run)
    results = recheck_run(run_dir, "asked for (etcd-harness check --run)")
    print_results(run_dir, results)
    _rewrite_pages(run_dir)
    return exit_code_for(results.get("valid"))


def cmd_report(args: argparse.Namespace) -> int:
    """``report RUN_DIR``: re-check if the verdict is stale (or ``--recheck``), then write the pages."""
    from harness.run._recheck import recheck_reason, recheck_run  # lazy: start-up

    run_dir = _run_dir_arg(args.run_dir)
    why = "asked for (--recheck)" if args.recheck else recheck_reason(run_dir)
    if why:
        try:
            results = recheck_run(run_dir, why)
        except HarnessError as e:
            if args.recheck:
                raise
            print(f"etcd-harness: warning: {why}, but the run cannot be re-checked: {e}", file=sys.stderr)
        else:
            print(f"re-checked ({why}): {_verdict_word(results.get('valid'))}")
    _rewrite_pages(run_dir, index=args.index)
    return EXIT_VALID


def cmd_clean(args: argparse.Namespace) -> int:
    from harness.etcd import clean  # lazy: start-up


    containers, networks, spared = clean(args.run_id, include_live=args.all)
    print(f"removed {containers} containers and {networks} networks")
    if spared:
        print(f"kept {len(spared)} run(s) whose process is still running: {', '.join(spared)} "
              "(stop them first, or `etcd-harness clean --all` removes them too)")
    return EXIT_VALID


def cmd_suite(args: argparse.Namespace) -> int:
    from harness.run._suite import suite_command  # lazy: start-up


    return suite_command(args)


def cmd_merge(args: argparse.Namespace) -> int:
    from harness.run._merge import merge_command  # lazy: start-up

    return merge_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="etcd-harness", description="A Jepsen-style test harness for etcd.",
        epilog=_epilog("main"), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("--version", action=_Version, help="print the harness version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("test", help="run one test against a real etcd cluster in Docker", epilog=_epilog("test"),
                       formatter_class=argparse.RawDescriptionHelpFormatter, add_help=False)
    p.add_argument("-h", "--help", action=_TestHelp, help="show this help message, the workloads and their "
                                                          "options, and exit")
    add_test_arguments(p)
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("check", help="check stored histories offline", epilog=_epilog("check"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument("--run", metavar="RUN_DIR", help="re-check a run directory with its own workload's checkers; "
                                                    "rewrites its results.json and report.html")
    p.add_argument("--model", default="cas-register",
                   help=f"the model: one of {', '.join(sorted(MODELS))} (default cas-register); or list-append, "
                        "rw-register: transactions, checked for the --consistency-model with Elle's method")
    p.add_argument("--consistency-model", default="strict-serializable", metavar="NAME",
                   help=f"with --model list-append|rw-register: one of {', '.join(CONSISTENCY_MODELS)} "
                        "(default %(default)s)")
    p.add_argument("--format", default="auto", choices=("auto", "jsonl", "edn", "jepsen-log"))
    p.add_argument("--time-limit", type=_positive_float, default=DEFAULT_TIME_LIMIT_S,
                   help="seconds per file, reading it included; past it the verdict is unknown; 0 = none "
                        "(default %(default)g)")
    p.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB,
                   help="MiB of memory per file, reading it included; past it the verdict is unknown; 0 = none "
                        "(default %(default)d)")
    p.add_argument("--json", action="store_true", help="print results as JSON")
    p.add_argument("--minimal-out", metavar="FILE",
                   help="write the minimal failing sub-history as JSONL, with the state it starts from in its "
                        "first line; checking FILE fails on the same op for the same reason")
    p.add_argument("--lenient", action="store_true",
                   help="skip the lines that break the input rules (orphan completion, double invoke, time going "
                        "backwards, ...) and say how many were skipped and why; by default they are input errors")
    p.add_argument("--no-shrink", action="store_true",
                   help="do not shrink the first failure to a minimal reproducer (it re-checks many sub-histories; "
                        "the window of each failure is still shown)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("report", help="(re)write report.html for a run directory", epilog=_epilog("report"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--index", action="store_true", help="also rewrite the results index")
    p.add_argument("--recheck", action="store_true",
                   help="re-check the history first (done anyway when history.jsonl is newer than results.json)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("suite", help="run a YAML test plan", epilog=_epilog("suite"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("plan", metavar="PLAN.yaml")
    p.add_argument("--results-dir", default="results")
    p.add_argument("--dry-run", action="store_true", help="validate and list the entries, run nothing")
    p.add_argument("--shard", metavar="K/N", default=None,
                   help="run shard K of N: the plan split by expected time, every entry in exactly one shard; "
                        "results go to <results-dir>/<plan>-shard-K-of-N/ (combine them with `etcd-harness merge`)")
    p.add_argument("--jobs", type=int, default=1, metavar="J",
                   help="entries run at once, each on a cluster of its own (default 1)")
    p.add_argument("--seed", type=int, default=None, metavar="S",
                   help="the suite seed: entries without a seed derive theirs from it and their name "
                        "(default: random, recorded in suite.json); required with --shard, the same in every shard")
    p.add_argument("--durations", metavar="SUITE_JSON", default=None,
                   help="split by the durations an earlier run measured (its suite.json) rather than estimates; "
                        "give every shard the same file")
    p.set_defaults(func=cmd_suite)

    p = sub.add_parser("merge", help="combine the results of a suite's shards", epilog=_epilog("merge"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dirs", nargs="+", metavar="DIR",
                   help="a shard's results folder (with its suite.json), or a folder holding shards' folders")
    p.add_argument("--results-dir", default="results",
                   help="where the merged junit.xml, summary.txt and suite.json and index.html go (default results)")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("clean", help="remove leftover containers and networks of any run (by label)",
                       epilog=_epilog("clean"), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-id", default=None, help="only this run's leftovers")
    p.add_argument("--all", action="store_true",
                   help="also remove runs whose process is still running on this host (default: spare them)")
    p.set_defaults(func=cmd_clean)
    return parser


def robust_output() -> None:
    """Never a UnicodeEncodeError: on a terminal or pipe that cannot encode a character (LANG=C,
    PYTHONIOENCODING=ascii), print it as a backslash escape rather than crash."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            with contextlib.suppress(ValueError, OSError):
                stream.reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    robust_output()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except HarnessError as e:
        print(f"etcd-harness: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("etcd-harness: interrupted; cluster torn down", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())


