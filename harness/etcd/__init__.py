"""The etcd floor: talking to etcd and running it. Imports only :mod:`harness.core`.

* :class:`EtcdClient`: the v3 JSON gateway and the v2 HTTP API, one attempt per
  request, every error classified (:func:`classify`) as definite or not;
* :class:`Cluster`: the protocol the runner, the faults and the workloads use;
  :class:`DockerCluster` implements it with real etcd containers.
"""

from harness.etcd._client import (
    EtcdClient,
    EtcdError,
    KeyValue,
    Member,
    V2Response,
    b64,
    classify,
    cmp_create_revision,
    cmp_mod_revision,
    cmp_value,
    header_revision,
    op_put,
    prefix_end,
    unb64,
)
from harness.etcd._cluster import (
    ALLOWED_SIZES,
    CLIENT_PORT,
    DEFAULT_IMAGE,
    LABEL,
    OWNER_LABEL,
    PEER_PORT,
    RUN_LABEL,
    Cluster,
    Membership,
    Node,
    NodeFiles,
    NodeLogs,
)
from harness.etcd._docker import DockerCluster, clean, docker_client, owner_alive, owner_token, remove_labelled

__all__ = [
    "ALLOWED_SIZES",
    "CLIENT_PORT",
    "DEFAULT_IMAGE",
    "LABEL",
    "OWNER_LABEL",
    "PEER_PORT",
    "RUN_LABEL",
    "Cluster",
    "DockerCluster",
    "EtcdClient",
    "EtcdError",
    "KeyValue",
    "Member",
    "Membership",
    "Node",
    "NodeFiles",
    "NodeLogs",
    "V2Response",
    "b64",
    "classify",
    "clean",
    "cmp_create_revision",
    "cmp_mod_revision",
    "cmp_value",
    "docker_client",
    "header_revision",
    "op_put",
    "owner_alive",
    "owner_token",
    "prefix_end",
    "remove_labelled",
    "unb64",
]
