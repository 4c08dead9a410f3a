"""Run ownership labels: ``clean`` must tell a run in progress from a leftover."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from harness.etcd import owner_alive, owner_token


def test_this_process_is_alive_and_a_finished_one_is_not() -> None:
    assert owner_alive(owner_token())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    token = owner_token(child.pid)
    child.wait()
    assert not owner_alive(token)


def test_a_reused_pid_with_another_start_time_is_not_the_owner() -> None:
    host, pid, ticks = owner_token().split("/")
    assert not owner_alive(f"{host}/{pid}/{int(ticks) + 1}")


def test_garbled_tokens_count_as_leftovers_on_this_host() -> None:
    assert not owner_alive(f"{socket.gethostname()}/not-a-pid/1")
    assert not owner_alive(f"{socket.gethostname()}/{os.getpid()}/")


def test_another_hosts_run_is_never_judged_dead_here() -> None:
    assert owner_alive("some-other-ci-runner/1/1")
