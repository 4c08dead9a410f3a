"""A thin etcd client over the v3 JSON gateway and the v2 HTTP API, on httpx.

Why not a library: the Python etcd3 gRPC libraries are abandoned or break with
current protobuf, and a harness needs full control of every request: one
attempt, explicit timeouts, and an exact account of what may have happened.

Contract:

* Every request has a connect and a read timeout.
* Nothing is ever retried here. A caller that wants to retry must know the
  first attempt certainly did not take effect (``Outcome.DEFINITE``).
* Every failure raises :class:`EtcdError` with ``definite`` set by
  :func:`classify`: ``True`` when the request certainly did not take effect
  (the connection was refused before sending, the compare failed, the request
  was rejected as invalid), ``False`` when it may have (a timeout after
  sending, a reset, a leader change, an unavailable server).

The gateway speaks protobuf's JSON mapping: bytes are base64, int64s are
strings, and false booleans and zero values are left out.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

# gRPC status codes whose request was certainly not applied: it was rejected
# before any proposal was made.
_DEFINITE_GRPC_CODES = {
    3,  # INVALID_ARGUMENT
    5,  # NOT_FOUND (e.g. lease not found)
    6,  # ALREADY_EXISTS
    7,  # PERMISSION_DENIED
    8,  # RESOURCE_EXHAUSTED ("too many requests": rejected before proposal)
    9,  # FAILED_PRECONDITION
    11,  # OUT_OF_RANGE (compacted revision)
    12,  # UNIMPLEMENTED
    16,  # UNAUTHENTICATED
}
# Everything else (CANCELLED, UNKNOWN, DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE:
# "leader changed", "request timed out", "no leader") is indeterminate: the
# proposal may already be in the raft log and may still be applied.
# Errors that carry an indeterminate code but a definite meaning, by message.
_DEFINITE_MESSAGES = (
    # The lock service (etcd 3.5+) re-reads the waiter's own key once its turn comes; this error
    # says that key is gone (its lease expired while it waited), so the lock is certainly not held.
    "mutex: session is expired",
)

# httpx exceptions raised before a single byte of the request left this process.
_DEFINITE_TRANSPORT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.LocalProtocolError,
                       httpx.UnsupportedProtocol)


class EtcdError(Exception):
    """A request that did not succeed. ``definite``: it certainly did not take effect."""

    def __init__(self, message: str, *, definite: bool, code: int | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.definite = definite
        self.code = code
        self.status = status

    @property
    def is_timeout(self) -> bool:
        return "timeout" in str(self).lower() or "timed out" in str(self).lower()


def classify(exc: BaseException) -> EtcdError:
    """Map any exception from a request to an :class:`EtcdError` with its definiteness.

    The table (definite → the op is recorded ``fail``, else ``info``):

    ===============================================  =========
    connection refused / connect timeout / pool      definite
    read timeout, write timeout, reset after send    indefinite
    server closed without a response                 indefinite
    gRPC INVALID_ARGUMENT, NOT_FOUND, FAILED_PREC..  definite
    gRPC UNAVAILABLE, DEADLINE_EXCEEDED, UNKNOWN ..  indefinite
    lock service "mutex: session is expired"         definite (the waiter's key is gone)
    anything else                                    indefinite
    ===============================================  =========
    """
    if isinstance(exc, EtcdError):
        return exc
    if isinstance(exc, _DEFINITE_TRANSPORT):
        return EtcdError(f"{type(exc).__name__}: {exc} (not sent)", definite=True)
    if isinstance(exc, httpx.TimeoutException):
        return EtcdError(f"timeout: {type(exc).__name__}", definite=False)
    if isinstance(exc, httpx.HTTPError):
        return EtcdError(f"{type(exc).__name__}: {exc}", definite=False)
    return EtcdError(f"{type(exc).__name__}: {exc}", definite=False)


def b64(s: str | bytes) -> str:
    raw = s.encode() if isinstance(s, str) else s
    return base64.b64encode(raw).decode("ascii")


def unb64(s: str | None) -> str | None:
    return None if s is None else base64.b64decode(s).decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: str
    mod_revision: int
    create_revision: int
    version: int
    lease: int = 0


def _kv(d: Mapping[str, Any]) -> KeyValue:
    return KeyValue(
        key=unb64(d.get("key")) or "",
        value=unb64(d.get("value", "")) or "",
        mod_revision=int(d.get("mod_revision", 0)),
        create_revision=int(d.get("create_revision", 0)),
        version=int(d.get("version", 0)),
        lease=int(d.get("lease", 0)),
    )


@dataclass(frozen=True, slots=True)
class Member:
    """One cluster member as the member list reports it. ``name`` is empty until it has started."""

    id: int
    name: str
    peer_urls: tuple[str, ...]
    is_learner: bool = False


def _member(d: Mapping[str, Any]) -> Member:
    return Member(id=int(d.get("ID", 0)), name=str(d.get("name", "")), peer_urls=tuple(d.get("peerURLs", ())),
                  is_learner=bool(d.get("isLearner", False)))


@dataclass(frozen=True, slots=True)
class V2Response:
    """A v2 API answer. ``index`` is the ``X-Etcd-Index`` header."""

    status: int
    body: dict[str, Any]
    index: int | None


class EtcdClient:
    """One HTTP connection pool to one etcd member.

    ``connect_timeout`` and ``request_timeout`` are in seconds. Methods raise
    :class:`EtcdError` (already classified) on any failure.
    """

    def __init__(self, endpoint: str, *, connect_timeout: float = 1.0, request_timeout: float = 5.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.request_timeout = request_timeout
        self._http = httpx.Client(
            base_url=self.endpoint,
            timeout=httpx.Timeout(request_timeout, connect=connect_timeout, pool=connect_timeout),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
            transport=httpx.HTTPTransport(retries=0, verify=_shared_ssl_context()),
            verify=_shared_ssl_context(),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EtcdClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------------

    def post(self, path: str, body: Mapping[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        """POST a gateway call once; return its JSON or raise a classified EtcdError."""
        try:
            if timeout is None:
                resp = self._http.post(path, json=body)
            else:
                resp = self._http.post(path, json=body, timeout=httpx.Timeout(timeout, connect=min(timeout, 1.0)))
        except Exception as e:
            raise classify(e) from e
        return _gateway_json(resp)

    # -- KV --------------------------------------------------------------------

    def get(self, key: str, *, serializable: bool = False) -> KeyValue | None:
        return self.get_with_revision(key, serializable=serializable)[1]

    def get_with_revision(self, key: str, *, serializable: bool = False) -> tuple[int, KeyValue | None]:
        """One key; returns (the response header's revision, the key or None if absent)."""
        body: dict[str, Any] = {"key": b64(key)}
        if serializable:
            body["serializable"] = True
        out = self.post("/v3/kv/range", body)
        kvs = out.get("kvs", [])
        return header_revision(out), (_kv(kvs[0]) if kvs else None)

    def get_prefix(self, prefix: str, *, serializable: bool = False) -> tuple[int, list[KeyValue]]:
        """All keys under ``prefix``; returns (header revision, kvs sorted by key)."""
        body: dict[str, Any] = {"key": b64(prefix), "range_end": b64(prefix_end(prefix))}
        if serializable:
            body["serializable"] = True
        out = self.post("/v3/kv/range", body)
        return int(out.get("header", {}).get("revision", 0)), [_kv(d) for d in out.get("kvs", [])]

    def put(self, key: str, value: str, *, lease: int = 0) -> int:
        """Put; returns the revision of the write."""
        body: dict[str, Any] = {"key": b64(key), "value": b64(value)}
        if lease:
            body["lease"] = str(lease)
        return int(self.post("/v3/kv/put", body).get("header", {}).get("revision", 0))

    def delete(self, key: str) -> int:
        """Delete; returns how many keys were deleted."""
        return int(self.post("/v3/kv/deleterange", {"key": b64(key)}).get("deleted", 0))

    def txn(self, compare: list[dict[str, Any]], success: list[dict[str, Any]],
            failure: list[dict[str, Any]] | None = None) -> tuple[bool, dict[str, Any]]:
        """A transaction; returns (succeeded, raw response). ``succeeded`` is absent when false."""
        out = self.post("/v3/kv/txn", {"compare": compare, "success": success, "failure": failure or []})
        return bool(out.get("succeeded", False)), out

    def cas(self, key: str, old: str, new: str) -> bool:
        """Put ``new`` iff the value is ``old``; True if it did."""
        ok, _ = self.txn([cmp_value(key, old)], [op_put(key, new)])
        return ok

    # -- leases and locks ----------------------------------------------------------

    def lease_grant(self, ttl: int) -> int:
        return int(self.post("/v3/lease/grant", {"TTL": str(ttl)})["ID"])

    def lease_keepalive_once(self, lease: int, *, timeout: float | None = None) -> int:
        """Refresh a lease once; returns the TTL left (0 or less: the lease is gone).

        The gateway maps the LeaseKeepAlive gRPC stream to a chunked POST: one JSON
        line per keepalive response. Read the first line, then close the stream, so
        the call is bounded by ``timeout`` even if the gateway keeps it open.
        """
        t = self.request_timeout if timeout is None else timeout
        try:
            with self._http.stream("POST", "/v3/lease/keepalive", json={"ID": str(lease)},
                                   timeout=httpx.Timeout(t, connect=min(t, 1.0))) as resp:
                first = next((line for line in resp.iter_lines() if line.strip()), "")
                status = resp.status_code
        except Exception as e:  # every failure is classified, none escapes raw
            raise classify(e) from e
        try:
            out = json.loads(first)
        except ValueError as e:
            raise EtcdError(f"keepalive: HTTP {status} with a non-JSON body", definite=False, status=status) from e
        if "error" in out and "result" not in out:
            err = out["error"] if isinstance(out["error"], dict) else out
            code = err.get("grpc_code", err.get("code"))
            raise EtcdError(str(err.get("message") or err.get("error") or out), definite=code in _DEFINITE_GRPC_CODES,
                            code=code if isinstance(code, int) else None, status=status)
        result = out.get("result", out)
        return int(result.get("TTL", 0))

    def lease_revoke(self, lease: int) -> None:
        self.post("/v3/lease/revoke", {"ID": str(lease)})

    def lock(self, name: str, lease: int, *, timeout: float | None = None) -> str:
        """Acquire the lock service's lock ``name`` under ``lease``; returns the lock key."""
        return self.lock_with_revision(name, lease, timeout=timeout)[1]

    def lock_with_revision(self, name: str, lease: int, *, timeout: float | None = None) -> tuple[int, str]:
        """As :meth:`lock`; returns (the response header's revision, the lock key)."""
        out = self.post("/v3/lock/lock", {"name": b64(name), "lease": str(lease)}, timeout=timeout)
        return header_revision(out), unb64(out["key"]) or ""

    def unlock(self, key: str) -> int:
        """Release a lock key; returns the response header's revision."""
        return header_revision(self.post("/v3/lock/unlock", {"key": b64(key)}))

    # -- cluster -----------------------------------------------------------------

    def status(self, *, timeout: float | None = None) -> dict[str, Any]:
        """Maintenance status: ``member_id``, ``leader`` (0 = none), ``raft_index``, ``raft_term``, ``version``,
        ``db_size`` (bytes of the backend file)."""
        out = self.post("/v3/maintenance/status", {}, timeout=timeout)
        return {
            "member_id": int(out.get("header", {}).get("member_id", 0)),
            "leader": int(out.get("leader", 0)),
            "raft_index": int(out.get("raftIndex", 0)),
            "raft_term": int(out.get("raftTerm", 0)),
            "version": out.get("version", ""),
            "db_size": int(out.get("dbSize", 0)),
        }

    def members(self, *, timeout: float | None = None) -> dict[int, str]:
        """Member id → name."""
        out = self.post("/v3/cluster/member/list", {}, timeout=timeout)
        return {int(m["ID"]): m.get("name", "") for m in out.get("members", [])}

    def member_list(self, *, timeout: float | None = None) -> list[Member]:
        """The members as this node knows them (``/v3/cluster/member/list``); a member added but not
        started yet has no name."""
        out = self.post("/v3/cluster/member/list", {}, timeout=timeout)
        return [_member(m) for m in out.get("members", [])]

    def member_add(self, peer_urls: list[str], *, timeout: float | None = None) -> Member:
        """Add a voting member (``/v3/cluster/member/add``); returns it (no name until it starts).
        etcd rejects it while the cluster is not fully connected ("unhealthy cluster")."""
        out = self.post("/v3/cluster/member/add", {"peerURLs": peer_urls}, timeout=timeout)
        return _member(out.get("member", {}))

    def member_remove(self, member_id: int, *, timeout: float | None = None) -> None:
        """Remove a member by id (``/v3/cluster/member/remove``)."""
        self.post("/v3/cluster/member/remove", {"ID": str(member_id)}, timeout=timeout)

    def compact(self, revision: int, *, physical: bool = True, timeout: float | None = None) -> int:
        """Compact the key-value history up to ``revision`` (``/v3/kv/compaction``); ``physical``
        waits until the compaction is applied to this member's backend. Returns the header revision."""
        body: dict[str, Any] = {"revision": str(revision)}
        if physical:
            body["physical"] = True
        return int(self.post("/v3/kv/compaction", body, timeout=timeout).get("header", {}).get("revision", 0))

    def defragment(self, *, timeout: float | None = None) -> None:
        """Defragment this member's backend (``/v3/maintenance/defragment``); the member serves no
        requests meanwhile."""
        self.post("/v3/maintenance/defragment", {}, timeout=timeout)

    # -- v2 ----------------------------------------------------------------------

    def v2(self, method: str, key: str, params: Mapping[str, str] | None = None, *,
           form: Mapping[str, str] | None = None, timeout: float | None = None) -> V2Response:
        """One v2 keys-API request, ``/v2/keys/<key>``. Non-2xx v2 errors come back as a
        V2Response (``body["errorCode"]``), not an exception: they are definite answers."""
        try:
            resp = self._http.request(
                method, f"/v2/keys/{key.lstrip('/')}", params=dict(params or {}), data=dict(form or {}),
                # None would mean *no* timeout to httpx: without one, the client's own applies.
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None
                else httpx.Timeout(timeout, connect=min(timeout, 1.0)),
            )
        except Exception as e:
            raise classify(e) from e
        try:
            body = resp.json()
        except ValueError as e:
            raise EtcdError(f"v2: HTTP {resp.status_code} with a non-JSON body", definite=False,
                            status=resp.status_code) from e
        index = resp.headers.get("X-Etcd-Index")
        if resp.status_code >= 500:
            # 5xx from v2: a timeout or a raft error; the write may still be applied.
            raise EtcdError(f"v2: HTTP {resp.status_code}: {body.get('message', body)}", definite=False,
                            status=resp.status_code)
        return V2Response(resp.status_code, body, int(index) if index else None)


_SSL_CONTEXT: list[ssl.SSLContext] = []


def _shared_ssl_context() -> ssl.SSLContext:
    """One SSL context for every client. httpx builds a new one per client otherwise, loading
    the CA bundle each time (0.3 s of CPU under load), which starved lease keepalives."""
    if not _SSL_CONTEXT:
        _SSL_CONTEXT.append(ssl.create_default_context())
    return _SSL_CONTEXT[0]


def _gateway_json(resp: httpx.Response) -> dict[str, Any]:
    try:
        body: dict[str, Any] = resp.json()
    except ValueError as e:
        raise EtcdError(f"HTTP {resp.status_code} with a non-JSON body", definite=False,
                        status=resp.status_code) from e
    if resp.status_code == 200 and "error" not in body:
        return body
    code = body.get("code")
    message = body.get("error") or body.get("message") or f"HTTP {resp.status_code}"
    definite = (isinstance(code, int) and code in _DEFINITE_GRPC_CODES) or str(message) in _DEFINITE_MESSAGES
    raise EtcdError(str(message), definite=definite, code=code if isinstance(code, int) else None,
                    status=resp.status_code)


def header_revision(response: Mapping[str, Any]) -> int:
    """The ``header.revision`` of a v3 gateway response (0 when absent)."""
    header = response.get("header")
    return int(header.get("revision", 0)) if isinstance(header, Mapping) else 0


def prefix_end(prefix: str) -> str:
    """The range end that selects every key starting with ``prefix``."""
    raw = bytearray(prefix.encode())
    while raw:
        if raw[-1] < 0xFF:
            raw[-1] += 1
            return raw.decode("latin-1")
        raw.pop()
    return "\0"


def cmp_value(key: str, value: str) -> dict[str, Any]:
    return {"key": b64(key), "target": "VALUE", "result": "EQUAL", "value": b64(value)}


def cmp_mod_revision(key: str, revision: int) -> dict[str, Any]:
    return {"key": b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(revision)}


def cmp_create_revision(key: str, revision: int) -> dict[str, Any]:
    return {"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": str(revision)}


def op_put(key: str, value: str, lease: int = 0) -> dict[str, Any]:
    put: dict[str, Any] = {"key": b64(key), "value": b64(value)}
    if lease:
        put["lease"] = str(lease)
    return {"request_put": put}
