"""The ``etcd-harness`` command line. Exit codes are listed in ``harness.core``.

The runner, the suites, the workloads and the faults are imported by the
subcommands that need them (each such import is marked ``# lazy: start-up``):
``etcd-harness check`` needs only the checkers. Measured on a 2-core machine:
``import checkers`` takes 0.15 s, ``import harness.run._runner`` 0.40 s.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.core import (
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_UNKNOWN,
    EXIT_USAGE,
    EXIT_VALID,
    HarnessError,
    TestSpec,
    UsageError,
)
from harness.run._check import check_command

EXIT_CODES_HELP = """exit codes:
  0    every verdict valid
  1    some verdict invalid
  2    usage error
  3    input error (history file, YAML plan)
  4    infrastructure error (Docker, image, cluster)
  5    no verdict invalid, but some unknown (a time or memory limit was hit)
  130  interrupted; everything was torn down
"""


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

        parser.epilog = f"{options_help()}\n{EXIT_CODES_HELP}"
        parser.print_help()
        parser.exit()


def add_test_arguments(p: argparse.ArgumentParser) -> None:
    """The ``test`` flags. Values are checked by ``validate_spec`` (the rules YAML plans use too)."""
    d = TestSpec()
    p.add_argument("--workload", default=d.workload, help=f"what clients do (default {d.workload})")
    p.add_argument("--nemesis", default=",".join(d.nemesis),
                   help="faults, combined with ',' or '+', or 'all' / 'none' (default partition); FAULT:TARGET "
                        "picks one target, e.g. partition:isolate-leader, kill:leader, pause:lock-holder")
    p.add_argument("--nodes", type=_number, default=d.nodes, help="cluster size: 1, 3, 5 or 7 (default 5)")
    p.add_argument("--time-limit", type=_number, default=d.time_limit, help="seconds of client ops, > 0")
    p.add_argument("--concurrency", type=_number, default=d.concurrency, help="client processes, 1 or more")
    p.add_argument("--rate", type=_number, default=d.rate, help="target ops/s in total; 0 = unlimited")
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
    p.add_argument("--replay", metavar="RUN_DIR", help="rerun a stored run with its config, seed and fault schedule")


def spec_from_args(args: argparse.Namespace) -> TestSpec:
    """The validated spec the ``test`` flags give (``validate_spec``); UsageError saying what is allowed."""
    from harness.run._validate import spec_from_fields, validate_spec  # lazy: start-up

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
        options=_parse_options(args.option),
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
    r = outcome.results
    stats = r.get("stats", {})
    timing = r.get("timing", {})
    verdict = {True: "VALID", False: "INVALID"}.get(r["valid"], "UNKNOWN")
    print(f"\n{verdict}  {outcome.run_dir}")
    for name, c in r.get("checkers", {}).items():
        v = {True: "valid", False: "INVALID"}.get(c.get("valid"), "unknown")
        print(f"  {name:<12} {v:<8} {c.get('reason', '')}")
    print(f"  ops {stats.get('ops', 0)} ({stats.get('by_type', {})}), {stats.get('ops_per_s', 0)} ops/s, "
          f"median latency {stats.get('latency_ms_median')} ms, nemesis ops {stats.get('nemesis_ops', 0)}")
    print(f"  cluster start {timing.get('cluster_start_s')} s, recovery {timing.get('recovery_s')} s, "
          f"check {timing.get('check_s')} s, total {timing.get('total_s')} s")
    report = outcome.run_dir / "report.html"
    if report.exists():
        print(f"  report: {report}")


def cmd_test(args: argparse.Namespace) -> int:
    from harness.run._runner import run_test  # lazy: start-up


    spec = spec_from_args(args)
    print(f"etcd-harness: {spec.test_name}, {spec.nodes} nodes, {spec.time_limit:g} s, seed {spec.seed}", flush=True)
    outcome = run_test(spec)
    print_summary(outcome)
    return exit_code_for(outcome.valid)


def cmd_check(args: argparse.Namespace) -> int:

    return check_command(args.paths, args.model, args.format, args.time_limit, args.memory_mb, as_json=args.json,
                         minimal_out=args.minimal_out)


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import write_index, write_report  # lazy: start-up


    run_dir = Path(args.run_dir)
    if not (run_dir / "history.jsonl").exists() and not (run_dir / "results.json").exists():
        raise UsageError(f"{run_dir} is not a run directory (no history.jsonl or results.json in it)")
    path = write_report(run_dir)
    print(path)
    root = run_dir.resolve().parent.parent
    if (root / "latest").exists() or args.index:
        print(write_index(root))
    return EXIT_VALID


def cmd_clean(args: argparse.Namespace) -> int:
    from harness.etcd import clean  # lazy: start-up


    containers, networks = clean(args.run_id)
    print(f"removed {containers} containers and {networks} networks")
    return EXIT_VALID


def cmd_suite(args: argparse.Namespace) -> int:
    from harness.run._suite import suite_command  # lazy: start-up


    return suite_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="etcd-harness", description="A Jepsen-style test harness for etcd.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("test", help="run one test against a real etcd cluster in Docker", epilog=EXIT_CODES_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter, add_help=False)
    p.add_argument("-h", "--help", action=_TestHelp, help="show this help message, the workloads and their "
                                                          "options, and exit")
    add_test_arguments(p)
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("check", help="check stored histories offline", epilog=EXIT_CODES_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--model", default="cas-register", help="the model (default cas-register)")
    p.add_argument("--format", default="auto", choices=("auto", "jsonl", "edn", "jepsen-log"))
    p.add_argument("--time-limit", type=_positive_float, default=60.0, help="seconds per file; 0 = none")
    p.add_argument("--memory-mb", type=int, default=2048, help="memory per check; 0 = none")
    p.add_argument("--json", action="store_true", help="print results as JSON")
    p.add_argument("--minimal-out", metavar="FILE",
                   help="write the minimal failing sub-history as JSONL (re-checks as not linearizable)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("report", help="(re)write report.html for a run directory")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--index", action="store_true", help="also rewrite the results index")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("suite", help="run a YAML test plan")
    p.add_argument("plan", metavar="PLAN.yaml")
    p.add_argument("--results-dir", default="results")
    p.add_argument("--dry-run", action="store_true", help="validate and list the entries, run nothing")
    p.set_defaults(func=cmd_suite)

    p = sub.add_parser("clean", help="remove leftover containers and networks of any run (by label)")
    p.add_argument("--run-id", default=None, help="only this run's leftovers")
    p.set_defaults(func=cmd_clean)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
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


