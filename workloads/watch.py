"""``watch``: long-poll watches on a folder, through faults, with resumption.

Writers put and delete keys under a folder; watchers follow the whole folder,
which does not exist when they start. Two kinds of watcher, each on its own
folder because etcd 3.4/3.5 keep the v2 and v3 keyspaces apart:

* ``v3``: the watch stream of the JSON gateway (``POST /v3/watch`` with a
  ``create_request`` over the folder's key range from ``start_revision``);
* ``v2``: the ``GET /v2/keys/<folder>?wait=true&recursive=true&waitIndex=N``
  long-poll, one event per response (only when the cluster has the v2 API).

A watcher is a long-running activity; it is recorded as a chain of *sessions*.
Each session is one op, ``f = "watch"``, ``key`` = the folder (``"v3"``/``"v2"``):

=========  ==============================================  ===============================================
f          invoke value                                    ok value
=========  ==============================================  ===============================================
put        ``[subkey, value]`` (values are unique)         ``[subkey, value, revision]``
delete     ``[subkey, null]``                              ``[subkey, null, revision]``; revision ``null``
                                                           when v3 deleted nothing (no change)
watch      ``{"watcher", "from", "node", "session_s"}``    the same plus ``events``: ``[[revision, subkey,
                                                           value or null for a delete], ...]``, ``stop``
                                                           (why the session ended), ``created_revision``,
                                                           ``last_revision`` (the newest one received);
                                                           ``compact_revision`` / ``cleared_index`` when
                                                           etcd could not serve ``from``
read       ``null`` (final recursive read)                 ``{"revision": H, "kvs": {subkey: value}}``
=========  ==============================================  ===============================================

A session ends when it is cut off (no event for ``session_s``, an error, a
cancel) and the next session resumes from the last revision seen + 1, on a
randomly chosen node. After heal, each watcher runs one *catch-up* session
(``"catch_up": true``) on a healthy leader, which ends after 2 s without an event.

Revisions: v3 writers record ``extra.rev`` (the header's revision: a put's own)
and, for deletes, ``extra.deleted``; ``checkers.revisions.RevisionChecker`` checks
them. Watch sessions and v2 ops carry none (a watch is served from one member's
state, not in real-time order).

Options (``spec.options``): ``skip_event`` (canary: the first watcher drops
its 5th event; the checker must report it).
"""

from __future__ import annotations

import json
import random
import threading
import time
from typing import TYPE_CHECKING, Any

import httpx

from checkers.revisions import RevisionChecker
from checkers.watch import WatchChecker
from harness.core import Op
from harness.etcd import EtcdClient, EtcdError, b64, classify, header_revision, prefix_end, unb64
from workloads._base import (
    Client,
    Invocation,
    Option,
    ProcessScript,
    Workload,
    WorkloadContext,
    complete_fail,
    complete_ok,
    complete_with_error,
)

if TYPE_CHECKING:
    from checkers import Checker
    from harness.etcd import Node

V3_FOLDER = "/watch/v3/"
V2_FOLDER = "/watch-v2/"
SUBKEYS = 8
CATCH_UP_IDLE_S = 2.0
CATCH_UP_LIMIT_S = 20.0
SKIPPED_EVENT = 5  # the canary watcher drops its 5th event


class WatchClient:
    """Writes and watch sessions against the cluster's nodes (sessions may pick any node)."""

    def __init__(self, endpoints: list[str], home: int, request_timeout: float, skip_nth: int = 0) -> None:
        self.endpoints = endpoints
        self.home = home
        self.request_timeout = request_timeout
        self.etcds = [EtcdClient(ep, request_timeout=request_timeout) for ep in endpoints]
        # Watch streams get pools of their own: a stream holds its connection for the whole session.
        self.streams = [httpx.Client(base_url=ep, transport=httpx.HTTPTransport(retries=0),
                                     limits=httpx.Limits(max_connections=1)) for ep in endpoints]
        self.skip_nth = skip_nth  # canary: drop the n-th event this client receives (0: never)
        self.delivered = 0

    # -- writes ----------------------------------------------------------------------

    def invoke(self, op: Op) -> Op:
        api = str(op.key)
        etcd = self.etcds[self.home]
        try:
            if op.f == "put":
                sub, value = op.value
                if api == "v3":
                    rev = etcd.put(V3_FOLDER + sub, value)
                    return complete_ok(op, [sub, value, rev], rev=rev)
                r = etcd.v2("PUT", V2_FOLDER + sub, form={"value": value})
                if r.status >= 400:
                    return complete_fail(op, f"v2 {r.body.get('errorCode')}: {r.body.get('message')}")
                return complete_ok(op, [sub, value, int(r.body["node"]["modifiedIndex"])], index=r.index)
            if op.f == "delete":
                sub = op.value[0]
                if api == "v3":
                    out = etcd.post("/v3/kv/deleterange", {"key": b64(V3_FOLDER + sub)})
                    deleted = int(out.get("deleted", 0))
                    header = header_revision(out)
                    return complete_ok(op, [sub, None, header if deleted else None], rev=header, deleted=deleted)
                r = etcd.v2("DELETE", V2_FOLDER + sub)
                if r.status >= 400:  # 100 key not found: certainly no change
                    return complete_fail(op, f"v2 {r.body.get('errorCode')}: {r.body.get('message')}")
                return complete_ok(op, [sub, None, int(r.body["node"]["modifiedIndex"])], index=r.index)
            if op.f == "read":
                return self._read(op, api)
            if op.f == "watch":
                return self._watch(op, api)
        except EtcdError as e:
            return complete_with_error(op, e, idempotent=op.f in ("read", "watch"))
        raise ValueError(f"watch: unknown op {op.f!r}")

    def _read(self, op: Op, api: str) -> Op:
        etcd = self.etcds[self.home]
        if api == "v3":
            rev, found = etcd.get_prefix(V3_FOLDER)
            return complete_ok(op, {"revision": rev, "kvs": {kv.key[len(V3_FOLDER):]: kv.value for kv in found}},
                               rev=rev)
        r = etcd.v2("GET", V2_FOLDER, {"recursive": "true", "quorum": "true"})
        if r.status == 404:
            return complete_ok(op, {"revision": r.index, "kvs": {}})
        if r.status >= 400:
            return complete_fail(op, f"v2 {r.body.get('errorCode')}: {r.body.get('message')}")
        children = r.body.get("node", {}).get("nodes", []) or []
        kvs = {n["key"][len(V2_FOLDER):]: n.get("value") for n in children if not n.get("dir")}
        return complete_ok(op, {"revision": r.index, "kvs": kvs})

    # -- watch sessions ----------------------------------------------------------------

    def _watch(self, op: Op, api: str) -> Op:
        spec: dict[str, Any] = dict(op.value)
        node = self.home if spec.get("node") is None else int(spec["node"]) % len(self.endpoints)
        catch_up = bool(spec.get("catch_up"))
        idle = CATCH_UP_IDLE_S if catch_up else float(spec.get("session_s", 3.0))
        limit = CATCH_UP_LIMIT_S if catch_up else 2 * idle
        session = _Session(events=[], stop="", extra={})
        if api == "v3":
            self._watch_v3(node, int(spec["from"]), idle, time.monotonic() + limit, session)
        else:
            if catch_up:
                # What "everything so far" means for a long-poll: the index now (v2 has no creation reply).
                probe = self.etcds[node].v2("GET", V2_FOLDER, {"quorum": "true"})
                session.extra["created_revision"] = probe.index or 0
            self._watch_v2(node, int(spec["from"]), idle, time.monotonic() + limit, session)
        if session.error and not session.events and not session.extra:
            return complete_fail(op, session.error)
        return complete_ok(op, {**spec, "events": session.events, "stop": session.stop, **session.extra})

    def _deliver(self, session: _Session, event: list[Any]) -> None:
        self.delivered += 1
        session.extra["last_revision"] = event[0]  # received, so the next session resumes after it
        if self.skip_nth and self.delivered == self.skip_nth:
            return  # the canary: a watcher that loses one event
        session.events.append(event)

    def _watch_v3(self, node: int, start: int, idle: float, deadline: float, session: _Session) -> None:
        body = {"create_request": {"key": b64(V3_FOLDER), "range_end": b64(prefix_end(V3_FOLDER)),
                                   "start_revision": str(start)}}
        http = self.streams[node]
        timeout = httpx.Timeout(idle, connect=1.0, pool=1.0)
        try:
            with http.stream("POST", "/v3/watch", json=body, timeout=timeout) as resp:
                if resp.status_code != 200:
                    resp.read()
                    session.fail(f"HTTP {resp.status_code}: {resp.text[:200]}")
                    return
                for line in resp.iter_lines():
                    if not line.strip():
                        continue
                    msg = json.loads(line)
                    if "error" in msg:
                        err = msg["error"]
                        session.fail(f"watch error: {err.get('message', err) if isinstance(err, dict) else err}")
                        return
                    result = msg.get("result", {})
                    if result.get("created"):
                        session.extra["created_revision"] = int(result.get("header", {}).get("revision", 0))
                    for ev in result.get("events", []) or []:
                        kv = ev.get("kv", {})
                        key = (unb64(kv.get("key")) or "")[len(V3_FOLDER):]
                        value = None if ev.get("type") == "DELETE" else (unb64(kv.get("value", "")) or "")
                        self._deliver(session, [int(kv.get("mod_revision", 0)), key, value])
                    if result.get("canceled"):
                        compact = int(result.get("compact_revision", 0))
                        if compact:
                            session.extra["compact_revision"] = compact
                        session.stop = f"canceled: {result.get('cancel_reason') or 'compacted'}"
                        return
                    if time.monotonic() >= deadline:
                        session.stop = "session time limit"
                        return
        except httpx.ReadTimeout:
            session.stop = f"cut off: no event for {idle:g} s"
            return
        except (httpx.HTTPError, ValueError) as e:
            session.fail(str(classify(e)) if isinstance(e, httpx.HTTPError) else f"bad watch message: {e}")
            return
        session.stop = session.stop or "stream closed by the server"

    def _watch_v2(self, node: int, start: int, idle: float, deadline: float, session: _Session) -> None:
        etcd = self.etcds[node]
        wait_index = start
        while (left := deadline - time.monotonic()) > 0:
            try:
                r = etcd.v2("GET", V2_FOLDER, {"wait": "true", "recursive": "true", "waitIndex": str(wait_index)},
                            timeout=min(left, idle))
            except EtcdError as e:
                if e.is_timeout:
                    session.stop = f"cut off: no event for {idle:g} s" if left > idle else "session time limit"
                    return
                session.fail(str(e))
                return
            if r.body.get("errorCode") == 401:
                # EventIndexCleared: the 1000-event window moved past wait_index.
                session.extra["cleared_index"] = int(r.body.get("index", r.index or 0))
                session.stop = f"event index cleared: {r.body.get('cause', '')}"
                return
            if r.status >= 400:
                session.fail(f"v2 {r.body.get('errorCode')}: {r.body.get('message')}")
                return
            node_body = r.body.get("node", {})
            index = int(node_body.get("modifiedIndex", 0))
            value = node_body.get("value") if r.body.get("action") in ("set", "create", "update",
                                                                       "compareAndSwap") else None
            self._deliver(session, [index, str(node_body.get("key", ""))[len(V2_FOLDER):], value])
            wait_index = index + 1
        session.stop = "session time limit"

    def close(self) -> None:
        for etcd in self.etcds:
            etcd.close()
        for stream in self.streams:
            stream.close()


class _Session:
    """What one watch session collected."""

    def __init__(self, events: list[list[Any]], stop: str, extra: dict[str, Any]) -> None:
        self.events = events
        self.stop = stop
        self.extra = extra
        self.error = ""

    def fail(self, error: str) -> None:
        self.error = error
        self.stop = f"error: {error}"


class WatchWorkload(Workload):
    name = "watch"
    options = (
        Option("skip_event", "bool", "the first watcher drops its 5th event (a canary)", default=False),
    )

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.skip_event = bool(self.option("skip_event"))
        self.apis: list[str] = ["v3"]
        self._lock = threading.Lock()
        self.resume: dict[str, int] = {}  # watcher → the next revision it must see
        self.watchers = max(2, spec.concurrency // 2)
        self._nodes = 1

    def setup(self, ctx: WorkloadContext) -> None:
        """Record where each watcher starts: just after the current revision / v2 index."""
        self.apis = ["v3", "v2"] if ctx.cluster.v2_enabled else ["v3"]
        self._nodes = len(ctx.cluster.nodes)
        with ctx.cluster.client(ctx.cluster.nodes[0], request_timeout=self.spec.request_timeout) as etcd:
            v3_rev, _ = etcd.get_prefix(V3_FOLDER)
            v2_index = 0
            if "v2" in self.apis:
                v2_index = etcd.v2("GET", V2_FOLDER, {"quorum": "true"}).index or 0
        for thread in range(self.watchers):
            api = self.apis[thread % len(self.apis)]
            self.resume[self.watcher_id(thread)] = (v3_rev if api == "v3" else v2_index) + 1

    def watcher_id(self, thread: int) -> str:
        return f"{self.apis[thread % len(self.apis)]}-w{thread}"

    def open_client(self, ctx: WorkloadContext, node: Node, process: int) -> Client:
        thread = process % self.spec.concurrency
        skip = SKIPPED_EVENT if self.skip_event and thread == 0 else 0
        endpoints = [ctx.cluster.endpoint(n) for n in ctx.cluster.nodes]
        return WatchClient(endpoints, ctx.cluster.nodes.index(node), self.spec.request_timeout, skip_nth=skip)

    def script(self, process: int, rng: random.Random) -> ProcessScript:
        thread = process % self.spec.concurrency
        if thread < self.watchers:
            yield from self._watcher(thread, rng)
        else:
            yield from self._writer(process, thread, rng)

    def _watcher(self, thread: int, rng: random.Random) -> ProcessScript:
        wid = self.watcher_id(thread)
        api = self.apis[thread % len(self.apis)]
        while True:
            with self._lock:
                start = self.resume[wid]
            done = yield Invocation("watch", {"watcher": wid, "from": start, "node": rng.randrange(self._nodes),
                                              "session_s": round(rng.uniform(0.5, 3.0), 2)}, api)
            if done is not None and done.is_ok:
                self._advance(wid, done.value)

    def _advance(self, wid: str, value: dict[str, Any]) -> None:
        with self._lock:
            if "last_revision" in value:
                self.resume[wid] = int(value["last_revision"]) + 1
            elif "compact_revision" in value:  # cannot resume: restart at the oldest kept (reported)
                self.resume[wid] = int(value["compact_revision"])
            elif "cleared_index" in value:
                self.resume[wid] = int(value["cleared_index"]) + 1

    def _writer(self, process: int, thread: int, rng: random.Random) -> ProcessScript:
        api = self.apis[(thread - self.watchers) % len(self.apis)]
        n = 0
        while True:
            sub = f"k{rng.randrange(SUBKEYS)}"
            n += 1
            if rng.random() < 0.75:
                yield Invocation("put", [sub, f"{process}.{n}"], api)
            else:
                yield Invocation("delete", [sub, None], api)

    def final_invocations(self) -> list[Invocation]:
        reads = [Invocation("read", None, api) for api in self.apis]
        with self._lock:
            catch_ups = [Invocation("watch", {"watcher": wid, "from": start, "node": None, "catch_up": True},
                                    wid.split("-")[0]) for wid, start in sorted(self.resume.items())]
        return reads + catch_ups

    def checkers(self) -> dict[str, Checker]:

        return {"watch": WatchChecker(), "revisions": RevisionChecker("watch")}
