"""``etcd-harness suite --jobs J``: up to J entries at once, each in a child process of its own.

Why child processes, not threads: the runner's discipline around signals (a teardown
runs with Ctrl-C held, SIGTERM becomes ``KeyboardInterrupt`` so ``finally`` tears
down) works only in a main thread (:func:`harness.core.signals_held`), and a thread
cannot be interrupted from outside. A child process runs :func:`run_entry` in its own
main thread, with all of that intact, exactly as ``--jobs 1`` runs it in the suite's.

Contract:

* Each entry is ``python -m harness.run._jobs`` in a **session of its own**, so a
  Ctrl-C on the terminal reaches only the suite, which forwards exactly one SIGINT to
  every running child: each tears its own cluster down (held signals, ``finally``)
  and reports itself interrupted. The suite waits for them (a second Ctrl-C does not
  cut that short), at most :data:`TEARDOWN_WAIT_S`; a child still there is killed and
  whatever carries its run id is removed by label. Entries not started are skipped.
* Each run gets its own cluster, network and subnet: the run id has the child's pid in
  it, and :class:`~harness.etcd.DockerCluster` picks its /24 at random among those no
  network uses, moving on to the next when Docker refuses one that another run took
  in between (Docker checks overlaps when it creates a network).
* The child talks to the suite over its stdout, in pickled messages
  (``("progress", info)``, ``("result", EntryResult)``, ``("interrupted", run_dir)``);
  everything it prints goes to its stderr, which the suite reads line by line and
  prints whole, prefixed with the entry. A child that dies without a result is an
  ``error`` entry whose message is the end of its stderr.
* A child whose suite has gone (killed, its terminal closed) interrupts itself at the
  next progress tick, so its cluster is torn down rather than left running.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from harness.core import TestSpec, signals_held
from harness.run._entry import Runner, run_dir_of, run_entry, tear_down_leftovers
from harness.run._outcome import EntryResult
from harness.run._plan import PlanEntry
from harness.run._progress import Progress

#: Seconds the suite waits for its children to tear down after Ctrl-C before it kills them.
TEARDOWN_WAIT_S = 180.0
#: Lines of a dead child's stderr kept for its error message.
STDERR_TAIL = 20

#: A message from a child, as the suite's reader threads pass it on: (entry index, kind, payload).
Event = tuple[int, str, Any]


@dataclasses.dataclass(slots=True)
class _Child:
    index: int
    entry: PlanEntry
    proc: subprocess.Popen[bytes]
    started: float
    readers: list[threading.Thread]
    result: EntryResult | None = None
    interrupted_run_dir: Path | None = None
    stderr_tail: deque[str] = dataclasses.field(default_factory=lambda: deque(maxlen=STDERR_TAIL))
    open_streams: int = 2


def _child_env() -> dict[str, str]:
    """The suite's environment, with its import path: a runner given by reference (a test's stand-in)
    must be importable in the child too."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


def start_child(index: int, entry: PlanEntry, suite_dir: Path, runner: Runner,
                events: queue.Queue[Event]) -> _Child:
    """Start the child process of entry ``index``; its messages and stderr lines go to ``events``."""
    proc = subprocess.Popen([sys.executable, "-m", "harness.run._jobs"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            env=_child_env())
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    job = (entry, str(suite_dir), runner, logging.getLogger().getEffectiveLevel())
    with contextlib.suppress(BrokenPipeError):  # a child that died at once: its stderr says why
        proc.stdin.write(pickle.dumps(job))
        proc.stdin.close()
    readers = [threading.Thread(target=_read_messages, args=(index, proc.stdout, events), daemon=True,
                                name=f"job-{index}-out"),
               threading.Thread(target=_read_lines, args=(index, proc.stderr, events), daemon=True,
                                name=f"job-{index}-err")]
    for t in readers:
        t.start()
    return _Child(index=index, entry=entry, proc=proc, started=time.monotonic(), readers=readers)


def _read_messages(index: int, stream: IO[bytes], events: queue.Queue[Event]) -> None:
    try:
        while True:
            kind, payload = pickle.load(stream)
            events.put((index, kind, payload))
    except Exception:  # EOF, or a message that cannot be read: either way this child has said its last
        pass
    finally:
        events.put((index, "closed", None))


def _read_lines(index: int, stream: IO[bytes], events: queue.Queue[Event]) -> None:
    try:
        for raw in stream:
            events.put((index, "line", raw.decode("utf-8", "backslashreplace").rstrip("\r\n")))
    except (OSError, ValueError):
        pass
    finally:
        events.put((index, "closed", None))


def interrupt(children: Sequence[_Child]) -> None:
    """One SIGINT to each running child (each is its own session: the terminal's reached only the suite)."""
    for child in children:
        if child.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.proc.pid, signal.SIGINT)


# -- the suite's side ------------------------------------------------------------------


def run_parallel(entries: Sequence[PlanEntry], suite_dir: Path, progress: Progress, runner: Runner, jobs: int,
                 on_result: Callable[[int, EntryResult], None]) -> bool:
    """Run ``entries`` at most ``jobs`` at a time, each in a child process; ``on_result(index, result)`` as
    each ends, in the suite's thread (the caller records it). Returns whether the suite was interrupted
    (Ctrl-C, or SIGTERM turned into KeyboardInterrupt by the caller); entries never started get no result."""
    events: queue.Queue[Event] = queue.Queue()
    pending = deque(enumerate(entries))
    running: dict[int, _Child] = {}
    interrupted = False
    deadline: float | None = None
    while pending or running:
        try:
            while pending and len(running) < jobs and not interrupted:
                with signals_held():  # a child started is a child known, so an interrupt reaches it
                    index, entry = pending.popleft()
                    progress.start(index, entry)
                    running[index] = start_child(index, entry, suite_dir, runner, events)
            if deadline is not None and time.monotonic() > deadline:
                _kill_stragglers(running, suite_dir, progress, on_result)
            try:
                index, kind, payload = events.get(timeout=0.5)
            except queue.Empty:
                continue
            child = running.get(index)
            if child is None:
                continue
            if kind == "progress":
                progress.update_entry(index, payload)
            elif kind == "line":
                child.stderr_tail.append(payload)
                progress.entry_line(index, payload)
            elif kind == "result":
                child.result = payload
            elif kind == "interrupted":
                child.interrupted_run_dir = payload or run_dir_of(_spec_in(child.entry, suite_dir))
            elif kind == "closed":
                child.open_streams -= 1
                if child.open_streams == 0:
                    with signals_held():  # its result is recorded before an interrupt is taken
                        del running[index]
                        on_result(index, _finish(child, suite_dir))
        except KeyboardInterrupt:
            if not interrupted:
                interrupted = True
                pending.clear()
                progress.print(f"suite interrupted: tearing down {len(running)} running cluster(s)")
                interrupt(list(running.values()))
                deadline = time.monotonic() + TEARDOWN_WAIT_S
            # a second Ctrl-C while the children tear down: they finish it anyway (signals held)
    return interrupted


def _spec_in(entry: PlanEntry, suite_dir: Path) -> TestSpec:
    return dataclasses.replace(entry.spec, results_dir=str(suite_dir))


def _finish(child: _Child, suite_dir: Path) -> EntryResult:
    """The result of a child whose streams are closed."""
    try:
        code = child.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.proc.kill()
        code = child.proc.wait()
    duration = time.monotonic() - child.started
    if child.result is not None:
        return child.result
    if child.interrupted_run_dir is not None or code in (130, -signal.SIGINT):
        return EntryResult(entry=child.entry, status="interrupted", verdict="unknown",
                           message="interrupted (Ctrl-C or SIGTERM); the cluster was torn down",
                           run_dir=child.interrupted_run_dir, duration_s=duration)
    tail = "\n".join(child.stderr_tail)
    run_dir = run_dir_of(_spec_in(child.entry, suite_dir))
    tear_down_leftovers(run_dir)
    return EntryResult(entry=child.entry, status="error", run_dir=run_dir, duration_s=duration, detail=tail,
                       message=f"internal error: the entry's process exited with code {code} and no result"
                               + (f": {child.stderr_tail[-1]}" if child.stderr_tail else ""))


def _kill_stragglers(running: dict[int, _Child], suite_dir: Path, progress: Progress,
                     on_result: Callable[[int, EntryResult], None]) -> None:
    """Children still there :data:`TEARDOWN_WAIT_S` after the interrupt: killed, their run's containers
    and network removed by label."""
    for index, child in list(running.items()):
        progress.entry_line(index, f"did not tear down within {TEARDOWN_WAIT_S:.0f} s of the interrupt: "
                                   "killed; removing its containers by label")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.proc.pid, signal.SIGKILL)
        child.proc.wait()
        run_dir = run_dir_of(_spec_in(child.entry, suite_dir))
        tear_down_leftovers(run_dir)
        del running[index]
        on_result(index, EntryResult(entry=child.entry, status="interrupted", verdict="unknown", run_dir=run_dir,
                                     message="interrupted; its process did not tear down in time and was killed",
                                     duration_s=time.monotonic() - child.started))


# -- the child ---------------------------------------------------------------------------


def child_main() -> int:
    """Run one entry: the job (entry, suite dir, runner, log level) is pickled on stdin; messages go out
    pickled on the original stdout, and everything printed goes to stderr."""
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        entry, suite_dir, runner, level = pickle.load(sys.stdin.buffer)
    except KeyboardInterrupt:
        return 130
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parent = os.getppid()

    def send(kind: str, payload: Any) -> None:
        with contextlib.suppress(OSError):
            pickle.dump((kind, payload), channel)
            channel.flush()

    def progress(info: dict[str, Any]) -> None:
        if os.getppid() != parent:  # the suite is gone: tear down now rather than run on unwatched
            raise KeyboardInterrupt("the suite process is gone")
        send("progress", info)

    try:
        result = run_entry(entry, Path(suite_dir), progress, runner)
    except KeyboardInterrupt:
        send("interrupted", run_dir_of(dataclasses.replace(entry.spec, results_dir=suite_dir)))
        return 130
    send("result", result)
    return 0


if __name__ == "__main__":
    sys.exit(child_main())
