"""``python -m checkers PATH... --model M [--format F]``: the ``check`` command standalone."""

from __future__ import annotations

import argparse

from harness._check_cmd import check_command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m checkers", description="Check histories for linearizability.")
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.add_argument("--model", required=True, help="register, cas-register, mutex, kv or counter")
    parser.add_argument("--format", default="auto", choices=["jsonl", "edn", "jepsen-log", "auto"])
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per file (0 = none)")
    parser.add_argument("--memory-limit", type=int, default=2048, help="MiB (0 = none)")
    parser.add_argument("--json", action="store_true", help="one JSON result per line")
    parser.add_argument("--minimal-out", metavar="FILE", help="write the minimal failing sub-history as JSONL")
    args = parser.parse_args(argv)
    return check_command(
        args.paths, args.model, args.format, args.time_limit, args.memory_limit, args.json, args.minimal_out
    )


try:
    code = main()
except BrokenPipeError:  # e.g. piped into head: stop quietly
    code = 0
except KeyboardInterrupt:
    code = 130
raise SystemExit(code)
