"""``lock``, ``lock-set``, ``lock-etcd-set``: etcd's v3 lock service (``/v3/lock/lock``).

Each process loops: grant a lease (``--ttl``, default 2 s) and keep it alive
from a background thread; acquire the lock under that lease; do its critical
section; release the lock and revoke the lease. Only ``acquire`` and
``release`` (and the ``add`` done under the lock) are recorded as ops; the
lease grant belongs to ``acquire`` and the revoke to ``release``.

=============  ===========================================================  ==================
workload       critical section                                             checkers
=============  ===========================================================  ==================
lock           sleep 0–2 s                                                  mutex, linear (mutex)
lock-set       ``add e``: read a set held by the harness, sleep 0–2 s,      mutex, set
               write it back with ``e``
lock-etcd-set  ``add e``: read a set stored in an etcd key, sleep 0–2 s,    set
               write it back in a txn guarded by the lock key's
               create_revision (a fencing token)
=============  ===========================================================  ==================

Options: ``hold_max`` (seconds, default 2): the critical section, or the sleep
inside ``add``, lasts uniformly 0 to ``hold_max``; longer than the TTL, it relies
on the keepalives, which is what ``pause:lock-holder`` breaks. ``locks``: how
many independent locks (default ``ceil(concurrency / 3)``, about three
processes per lock, so that a waiter rarely waits past the acquire timeout).

Roles: the workload reports ``lock-waiter`` (acquire invoked, not completed)
and ``lock-holder`` (acquire ok, release not yet invoked) per node, newest
first, so ``--nemesis pause:lock-holder`` pauses the node the newest holder
keeps its lease alive through.

Ops (``key``: the lock's name):

=======  =========================================  ===============================================
f        request                                    completion
=======  =========================================  ===============================================
acquire  LeaseGrant, then Lock (timeout:            ok: held (``extra``: lock key, lease, revision);
         request timeout + TTL + hold_max)          fail: certainly not held; info: may be held
release  Unlock, then LeaseRevoke                   ok; info if unknown. ``extra.lease_lost``: the
                                                    keepalive thread saw the lease gone while held;
                                                    ``extra.keepalive``: refreshes acked / failed,
                                                    ``last_ack_sent_s_ago`` (see Refresher) and
                                                    ``member``, the node that acknowledged them
add      see above (value: the element)             ok / fail (fenced: the lock was lost) / info
read     the set (final read)                       ok with the sorted elements
=======  =========================================  ===============================================

Revisions (``extra``, checked by ``checkers.revisions.RevisionChecker``): an ``ok``
acquire records ``rev``, the lock service's header revision; a release whose unlock
was answered records the unlock's ``rev``; ``lock-etcd-set``'s ``add`` records its
txn's ``rev`` and ``succeeded`` (false: fenced), and its final read ``rev``,
``mod_rev``, ``create_rev`` and ``version`` of the set key.

An acquire that times out is ``info``: the server may have granted the lock
just before the client gave up. It is never retried: the process is retired,
its lease is revoked (best effort) and its keepalives stop, so a lock it may
hold is freed within the TTL.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Protocol

from checkers import LinearizabilityChecker, MutexChecker, SetChecker
from checkers.revisions import RevisionChecker
from harness.core import Op, UsageError
from harness.etcd import EtcdClient, EtcdError, cmp_create_revision, header_revision, op_put
from workloads._base import (
    Client,
    Invocation,
    Option,
    ProcessScript,
    Sleep,
    Workload,
    WorkloadContext,
    complete_fail,
    complete_ok,
    complete_with_error,
    key_revisions,
    read_option,
)

if TYPE_CHECKING:
    from checkers import Checker
    from harness.etcd import Node

log = logging.getLogger(__name__)

LOCK_PREFIX = "/locks/"
SET_PREFIX = "/lock-set/"
#: A keepalive thread that failed for this long stops: no lease outlives that.
GIVE_UP_S = 60.0
#: The critical section (and the sleep inside a read-modify-write) lasts up to this long by default.
HOLD_MAX_S = 2.0
#: The roles a lock workload reports to the nemesis (see ``nemesis.ROLES``).
LOCK_ROLES = ("lock-holder", "lock-waiter")
#: The options of every lock workload (v3 and v2).
LOCK_OPTIONS = (
    Option("hold_max", "number", "seconds a critical section lasts at most (uniformly 0 to hold_max); "
           "past --ttl it relies on the keepalives", default=HOLD_MAX_S, minimum=0),
    Option("locks", "int", "independent locks the processes share (about three processes per lock)",
           minimum=1, default_text="ceil(concurrency / 3)"),
)


def lock_count(spec: Any) -> int:
    """How many independent locks the processes share (about three processes per lock)."""
    locks = read_option(LOCK_OPTIONS, spec, "locks")
    return max(1, int(locks if locks is not None else math.ceil(spec.concurrency / 3)))


def hold_max(spec: Any) -> float:
    """The longest critical section, in seconds (``--option hold_max=S``, default 2)."""
    return float(read_option(LOCK_OPTIONS, spec, "hold_max"))


def acquire_timeout(spec: Any) -> float:
    """How long an acquire waits: one request, one lease expiry and one longest hold ahead of it."""
    return float(spec.request_timeout + spec.ttl + hold_max(spec))


def acquire_wait(spec: Any, ops_deadline: float | None) -> float:
    """How long an acquire asked now may wait for its turn: :func:`acquire_timeout`, but no longer than one
    request timeout past the op phase's end (``ops_deadline``, ``time.monotonic()``; None: no end): at the
    time limit the holders stop releasing, so a longer wait would only hold the run up."""
    longest = acquire_timeout(spec)
    if ops_deadline is None:
        return longest
    return min(longest, ops_deadline + float(spec.request_timeout) - time.monotonic())


def check_lock_options(spec: Any) -> None:
    """UsageError unless ``hold_max`` is a number ≥ 0 and ``locks`` a whole number ≥ 1 (where given).

    The same check as ``harness.run.validate_spec``, which runs before any workload is built."""
    for option in LOCK_OPTIONS:
        why = option.problem(spec.options[option.name], spec.workload) if option.name in spec.options else None
        if why:
            raise UsageError(why)


class RoleBoard:
    """What each process is doing with its lock right now, and through which node.

    Thread-safe: workers write it, the nemesis thread reads :meth:`report`.
    """

    def __init__(self) -> None:
        self._now: dict[Hashable, tuple[str, str, float]] = {}  # process -> (role, node, since)
        self._lock = threading.Lock()

    def enter(self, process: Hashable, node: str, role: str) -> None:
        with self._lock:
            self._now[process] = (role, node, time.monotonic())

    def leave(self, process: Hashable) -> None:
        with self._lock:
            self._now.pop(process, None)

    def track(self, node: str, op: Op, done: Op | None) -> None:
        """Update ``op.process``'s role around one op: before it (``done`` None) and after it."""
        if op.f == "acquire":
            if done is None:
                self.enter(op.process, node, "lock-waiter")
            elif done.is_ok:
                self.enter(op.process, node, "lock-holder")
            else:
                self.leave(op.process)
        elif op.f == "release" and done is None:
            self.leave(op.process)  # from the release on, the client no longer acts as the holder

    def report(self) -> dict[str, list[str]]:
        """role -> node names, the node of the newest role-taker first."""
        with self._lock:
            newest_first = sorted(self._now.values(), key=lambda r: -r[2])
        out: dict[str, list[str]] = {}
        for role, node, _ in newest_first:
            nodes = out.setdefault(role, [])
            if node not in nodes:
                nodes.append(node)
        return out


def lock_name(spec: Any, process: int) -> str:
    """The lock a process uses: fixed per worker thread, so a retired process's successor keeps it."""
    return f"l{(process % spec.concurrency) % lock_count(spec)}"


class LockHolder(Protocol):
    """What a resource needs from the client that holds the lock."""

    rng: random.Random
    etcd: EtcdClient


class HarnessSet:
    """Sets held in the harness's memory, one per lock: the resource of ``lock-set`` and ``lock-v2-set``.

    ``add`` is a deliberately slow read-modify-write (read, sleep 0–2 s, write
    back): only the lock under test keeps two of them from overlapping. The
    Python lock here only keeps memory access atomic, never the whole add.
    """

    def __init__(self, hold_max_s: float = HOLD_MAX_S) -> None:
        self.sets: dict[str, set[int]] = {}
        self.hold_max_s = hold_max_s
        self._memory = threading.Lock()

    def add(self, rng: random.Random, op: Op) -> Op:
        with self._memory:
            current = set(self.sets.get(str(op.key), set()))
        self_sleep(rng, self.hold_max_s)
        with self._memory:
            self.sets[str(op.key)] = current | {op.value}
        return complete_ok(op, op.value)

    def read(self, op: Op) -> Op:
        with self._memory:
            return complete_ok(op, sorted(self.sets.get(str(op.key), set())))


class Refresher:
    """Calls :meth:`refresh_once` every TTL/3 from a background thread until :meth:`stop`.

    ``refresh_once`` returns True while the holder still holds, False when etcd says it
    no longer does (then ``lost`` becomes true and the thread ends), and raises
    :class:`EtcdError` when the answer is unknown (an unreachable node, a timeout): then it
    tries again, and gives up only after ``GIVE_UP_S`` of failures (the cluster is gone).

    It also counts, for the history: refreshes acknowledged and failed, and when the last
    acknowledged one was *sent* (``granted_at``, the grant's send time, until the first).
    Etcd cannot expire a lease sooner than the TTL after that instant, so a second holder
    granted within it means etcd did not honour a live lease: the mutex checker says which
    case a violation is (see :meth:`summary` and ``checkers.mutex``).

    A ``group`` (:class:`RefresherGroup`) knows every live refresher of a workload, so its
    teardown can stop them all; one born after that is stopped at once.
    """

    def __init__(self, ttl: float, request_timeout: float, name: str, granted_at: float | None = None,
                 group: RefresherGroup | None = None) -> None:
        self.lost = False
        self.acked = 0
        self.failed = 0
        self.last_ack_sent = time.monotonic() if granted_at is None else granted_at
        self.last_ack_received = self.last_ack_sent  # the grant's answer, until a refresh is acknowledged
        self.interval = max(0.2, ttl / 3)
        # A slow answer still refreshes: wait up to the TTL, not just the interval.
        self._timeout = max(0.3, min(request_timeout, float(ttl)))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._group = group
        if group is not None:
            group.add(self)

    @property
    def name(self) -> str:
        return self._thread.name

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def join_bound(self) -> float:
        """The longest :meth:`stop` waits: one refresh in flight, plus a second."""
        return self._timeout + 1

    def refresh_once(self) -> bool:
        raise NotImplementedError

    def _run(self) -> None:
        try:
            self._refresh_until_stopped()
        finally:
            if self._group is not None:
                self._group.discard(self)

    def _refresh_until_stopped(self) -> None:
        failing_since: float | None = None
        while not self._stop.wait(self.interval):
            sent = time.monotonic()
            try:
                alive = self.refresh_once()
            except EtcdError:
                self.failed += 1
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since > GIVE_UP_S:
                    return
                continue
            failing_since = None
            if not alive:
                self.lost = True
                return
            self.acked += 1
            self.last_ack_sent, self.last_ack_received = sent, time.monotonic()

    def signal_stop(self) -> None:
        """Ask the thread to end after its refresh in flight, without waiting for it."""
        self._stop.set()

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the thread to end (at once if it never started)."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    def stop(self) -> None:
        self._stop.set()
        self.join(self.join_bound)

    def summary(self) -> dict[str, Any]:
        """For the release op's ``extra.keepalive``: ``acked``, ``failed``, ``last_ack_sent_s_ago`` and
        ``last_ack_received_s_ago``, seconds from the send of the last acknowledged refresh (or the grant),
        and from its answer, to now. The leader renewed the lease between the two."""
        now = time.monotonic()
        return {"acked": self.acked, "failed": self.failed,
                "last_ack_sent_s_ago": round(now - self.last_ack_sent, 3),
                "last_ack_received_s_ago": round(now - self.last_ack_received, 3)}


class RefresherGroup:
    """The live refreshers of one workload. Thread-safe; see :meth:`stop_all`."""

    def __init__(self) -> None:
        self._live: set[Refresher] = set()
        self._lock = threading.Lock()
        self._closed = False

    def add(self, refresher: Refresher) -> None:
        with self._lock:
            if not self._closed:
                self._live.add(refresher)
                return
        refresher.signal_stop()  # born after teardown (a worker finishing its last op): end at once

    def discard(self, refresher: Refresher) -> None:
        with self._lock:
            self._live.discard(refresher)

    def __len__(self) -> int:
        with self._lock:
            return len(self._live)

    def stop_all(self) -> list[str]:
        """Stop every refresher, and any added later; wait for them all within one shared bound
        (the slowest one's :attr:`Refresher.join_bound`). Returns the names still running after it."""
        with self._lock:
            self._closed = True
            live = list(self._live)
        for r in live:
            r.signal_stop()
        deadline = time.monotonic() + max((r.join_bound for r in live), default=0.0)
        for r in live:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r.join(left)
        return sorted(r.name for r in live if r.alive)


class LeaseKeeper(Refresher):
    """Keeps one lease alive. ``lost`` becomes true when etcd says the lease is gone (TTL ≤ 0
    or "lease not found"): a holder whose lease is lost no longer holds the lock, whatever it thinks.
    """

    def __init__(self, etcd: EtcdClient, lease: int, ttl: float, request_timeout: float,
                 granted_at: float | None = None, group: RefresherGroup | None = None) -> None:
        super().__init__(ttl, request_timeout, name=f"keepalive-{lease:x}", granted_at=granted_at, group=group)
        self.lease = lease
        self._etcd = etcd  # the holder's own keepalive client: not shared with its lock calls
        self._thread.start()

    def refresh_once(self) -> bool:
        try:
            return self._etcd.lease_keepalive_once(self.lease, timeout=self._timeout) > 0
        except EtcdError as e:
            if e.code == 5:  # NOT_FOUND: the lease expired or was revoked
                return False
            raise


class LockClient:
    """One process's client. ``resource`` is ``"none"``, ``"harness"`` or ``"etcd"``."""

    def __init__(self, workload: LockWorkload, etcd: EtcdClient, process: int, node: str) -> None:
        self.workload = workload
        self.spec = workload.spec
        self.etcd = etcd
        self.node = node
        self.process = process
        self.rng = random.Random(f"{self.spec.seed}:{process}:client")
        self.keeper: LeaseKeeper | None = None
        self.keepalive_etcd = EtcdClient(etcd.endpoint, request_timeout=self.spec.request_timeout)
        self.lock_key: str | None = None
        self.lock_revision: int | None = None
        self.holding = False
        self.last_was_info = False

    # -- lease -----------------------------------------------------------------------

    def _drop_lease(self, revoke: bool = True) -> bool:
        """Stop the keepalives and revoke the lease (best effort); True if the revoke was acknowledged.
        Without ``revoke`` (teardown: the cluster may be gone) the lease just expires."""
        keeper, self.keeper = self.keeper, None
        if keeper is None:
            return False
        keeper.stop()
        if not revoke:
            return False
        try:
            self.etcd.post("/v3/lease/revoke", {"ID": str(keeper.lease)}, timeout=min(1.0, self.spec.request_timeout))
            return True
        except EtcdError:
            return False

    # -- ops -------------------------------------------------------------------------

    def invoke(self, op: Op) -> Op:
        self.workload.board.track(self.node, op, None)
        done = self._invoke(op)
        self.workload.board.track(self.node, op, done)
        self.last_was_info = done.is_info
        if op.f in ("acquire", "release"):
            self.holding = op.f == "acquire" and done.is_ok
        return done

    def _invoke(self, op: Op) -> Op:
        if op.f == "acquire":
            return self.acquire(op)
        if op.f == "release":
            return self.release(op)
        if op.f == "add":
            return self.workload.add(self, op)
        if op.f == "read":
            return self.workload.read(self, op)
        raise ValueError(f"{self.workload.name}: unknown op {op.f!r}")

    def acquire(self, op: Op) -> Op:
        ttl = self.spec.ttl
        granting = time.monotonic()
        try:
            lease = self.etcd.lease_grant(ttl)
        except EtcdError as e:
            # No lock was requested; an unknown grant only leaves a lease that expires by itself.
            return complete_fail(op, f"lease grant: {e}")
        self.keeper = LeaseKeeper(self.keepalive_etcd, lease, ttl, self.spec.request_timeout, granted_at=granting,
                                  group=self.workload.refreshers)
        wait = acquire_wait(self.spec, self.workload.ops_deadline)
        if wait <= 0:  # the grant took us past the op phase's end: do not ask for the lock at all
            self._drop_lease()
            return complete_fail(op, "lock not requested: the run's time limit passed while the lease was granted")
        try:
            rev, key = self.etcd.lock_with_revision(LOCK_PREFIX + str(op.key), lease, timeout=wait)
        except EtcdError as e:
            done = complete_with_error(op, e)
            self._drop_lease()  # frees a lock we may hold; the op stays as classified
            return done
        self.lock_key = key
        self.lock_revision = None
        if self.workload.resource == "etcd":
            # The fencing token: the lock key's create revision. A read: safe to fail.
            try:
                kv = self.etcd.get(key)
                self.lock_revision = kv.create_revision if kv is not None else None
            except EtcdError:
                self.lock_revision = None
        return complete_ok(op, None, lock_key=key, lease=f"{lease:x}", revision=self.lock_revision, rev=rev)

    def release(self, op: Op) -> Op:
        lease_lost = self.keeper.lost if self.keeper is not None else False
        # The member the keepalives went to acknowledged them: the mutex checker names it.
        keepalive = {**self.keeper.summary(), "member": self.node} if self.keeper is not None else None
        unlock_error: EtcdError | None = None
        unlock_rev = 0
        try:
            unlock_rev = self.etcd.unlock(self.lock_key or "")
        except EtcdError as e:
            unlock_error = e
        revoked = self._drop_lease()
        self.lock_key, self.lock_revision = None, None
        extra: dict[str, Any] = {"lease_lost": True} if lease_lost else {}
        if keepalive is not None:
            extra["keepalive"] = keepalive
        if unlock_rev:
            extra["rev"] = unlock_rev
        if unlock_error is None or revoked:
            # Revoking the lease deletes the lock key too: either one releases the lock.
            return complete_ok(op, None, **extra)
        done = complete_with_error(op, unlock_error)
        return done.with_(extra=extra or None)

    def close(self) -> None:
        if self.holding and not self.last_was_info and self.keeper is not None:
            # The run is over while this process holds the lock, with no release recorded.
            # Keep the lease alive until every worker has stopped: revoking it now would let
            # an in-flight acquire succeed "while this one holds", which no history explains.
            self.workload.park(self._close_now)
            return
        self._close_now()

    def _close_now(self, revoke: bool = True) -> None:
        self.workload.board.leave(self.process)
        self._drop_lease(revoke)
        self.keepalive_etcd.close()
        self.etcd.close()


class LockWorkload(Workload):
    """``lock``: acquire, hold 0–2 s, release. See the module docstring."""

    name = "lock"
    roles = LOCK_ROLES
    options = LOCK_OPTIONS
    #: What the lock protects: nothing, a set in the harness, or a set in an etcd key.
    resource = "none"

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        check_lock_options(spec)
        self.hold_max_s = hold_max(spec)
        self.harness_set = HarnessSet(self.hold_max_s)
        self.board = RoleBoard()
        self._parked: list[Callable[[bool], None]] = []
        self._parked_lock = threading.Lock()
        self._torn_down = False
        #: Every live keepalive thread of this workload's clients (see :meth:`teardown`).
        self.refreshers = RefresherGroup()
        #: When the op phase ends (``WorkloadContext.ops_deadline``): acquires stop waiting for their turn.
        self.ops_deadline: float | None = None
        self.locks = [f"l{i}" for i in range(lock_count(spec))]

    def open_client(self, ctx: WorkloadContext, node: Node, process: int) -> Client:
        self.ops_deadline = ctx.ops_deadline
        etcd = ctx.cluster.client(node, request_timeout=self.spec.request_timeout)
        return LockClient(self, etcd, process, node.name)

    def node_roles(self) -> dict[str, list[str]]:
        return self.board.report()

    def script(self, process: int, rng: random.Random) -> ProcessScript:
        key = lock_name(self.spec, process)
        element = 0
        while True:
            done = yield Invocation("acquire", None, key)
            if done is None or not done.is_ok:
                yield Sleep(rng.uniform(0.05, 0.3))  # a definite failure: back off, then try again
                continue
            if self.resource == "none":
                yield Sleep(rng.uniform(0, self.hold_max_s))
            else:
                element += 1
                yield Invocation("add", process * 1_000_000 + element, key)
            yield Invocation("release", None, key)

    # -- the protected resource -------------------------------------------------------------

    def add(self, client: LockHolder, op: Op) -> Op:
        raise ValueError(f"{self.name} has no add op")

    def read(self, client: LockHolder, op: Op) -> Op:
        raise ValueError(f"{self.name} has no read op")

    def park(self, close: Callable[[bool], None]) -> None:
        """Defer a holder's close (its lease is kept alive) until :meth:`release_parked`.
        ``close(revoke)`` stops its keepalives, then revokes its lease if ``revoke``.
        After :meth:`teardown` nothing waits: the holder is closed at once, without a revoke."""
        with self._parked_lock:
            if not self._torn_down:
                self._parked.append(close)
                return
        close(False)

    def release_parked(self, *, revoke: bool = True) -> None:
        """Close every parked holder: stop its keepalives and (``revoke``) revoke its lease."""
        with self._parked_lock:
            parked, self._parked = self._parked, []
        for close in parked:
            close(revoke)

    def teardown(self) -> None:
        """Stop every keepalive thread, each join bounded, and close the holders still parked.

        After final reads, :meth:`final_invocations` has already released the parked holders
        (revoking their leases); when there were none (the cluster never recovered, or the run
        was interrupted) they are closed here without a revoke: the cluster may not answer, and
        it is torn down next. A keepalive a late worker starts from now on stops at once."""
        with self._parked_lock:
            self._torn_down = True
        left = self.refreshers.stop_all()
        if left:
            log.warning("%s: %d keepalive thread(s) still running after teardown: %s", self.name, len(left),
                        ", ".join(left))
        self.release_parked(revoke=False)

    def final_invocations(self) -> list[Invocation]:
        # Called once every worker has stopped: the parked holders may go now.
        self.release_parked()
        return [] if self.resource == "none" else [Invocation("read", None, key) for key in self.locks]

    def checkers(self) -> dict[str, Checker]:

        return {"mutex": MutexChecker(), "linear": LinearizabilityChecker("mutex"), **self.revision_checkers()}

    def revision_checkers(self) -> dict[str, Checker]:
        """``revisions`` when this workload's clients are the v3 :class:`LockClient`, which records them; a
        subclass with clients of its own (the v2 recipe) has none to check."""
        return {"revisions": RevisionChecker("lock")} if type(self).open_client is LockWorkload.open_client else {}


class LockSetWorkload(LockWorkload):
    """``lock-set``: the lock guards a read-modify-write of a set held by the harness."""

    name = "lock-set"
    resource = "harness"

    def add(self, client: LockHolder, op: Op) -> Op:
        return self.harness_set.add(client.rng, op)

    def read(self, client: LockHolder, op: Op) -> Op:
        return self.harness_set.read(op)

    def checkers(self) -> dict[str, Checker]:

        return {"mutex": MutexChecker(), "set": SetChecker(), **self.revision_checkers()}


class LockEtcdSetWorkload(LockWorkload):
    """``lock-etcd-set``: the set is an etcd key; its write is fenced by the lock key's revision."""

    name = "lock-etcd-set"
    resource = "etcd"

    def add(self, client: LockHolder, op: Op) -> Op:
        key = SET_PREFIX + str(op.key)
        if not isinstance(client, LockClient):
            raise TypeError("lock-etcd-set needs a LockClient")
        if client.lock_key is None or client.lock_revision is None:
            return complete_fail(op, "no fencing token: the lock key's revision could not be read")
        try:
            kv = client.etcd.get(key)
        except EtcdError as e:
            return complete_with_error(op, e, idempotent=True)
        current = set(json.loads(kv.value)) if kv is not None and kv.value else set()
        self_sleep(client.rng, self.hold_max_s)
        value = json.dumps(sorted(current | {op.value}))
        try:
            swapped, out = client.etcd.txn([cmp_create_revision(client.lock_key, client.lock_revision)],
                                           [op_put(key, value)])
        except EtcdError as e:
            return complete_with_error(op, e)
        rev = header_revision(out)
        if not swapped:
            return complete_fail(op, "fenced: the lock key no longer exists at the acquired revision", rev=rev,
                                 succeeded=False)
        return complete_ok(op, op.value, rev=rev, succeeded=True)

    def read(self, client: LockHolder, op: Op) -> Op:
        try:
            rev, kv = client.etcd.get_with_revision(SET_PREFIX + str(op.key))
        except EtcdError as e:
            return complete_with_error(op, e, idempotent=True)
        return complete_ok(op, sorted(json.loads(kv.value)) if kv is not None and kv.value else [],
                           **key_revisions(rev, kv))

    def checkers(self) -> dict[str, Checker]:

        # No mutex checker: with leases, mutual exclusion can fail under pauses by design
        # (lock-set shows it); what this workload guarantees is the fenced resource.
        return {"set": SetChecker(), **self.revision_checkers()}


def self_sleep(rng: random.Random, longest: float) -> None:
    """The sleep inside a read-modify-write: it widens the window an overlapping holder can hit."""
    threading.Event().wait(rng.uniform(0, longest))


__all__ = [
    "LOCK_OPTIONS",
    "HarnessSet",
    "LeaseKeeper",
    "LockClient",
    "LockEtcdSetWorkload",
    "LockHolder",
    "LockSetWorkload",
    "LockWorkload",
    "RefresherGroup",
    "RoleBoard",
    "acquire_timeout",
    "acquire_wait",
    "hold_max",
    "lock_count",
    "lock_name",
]
