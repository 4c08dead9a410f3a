"""Consistency models and the anomalies each one forbids (Adya's levels, as Elle uses them).

* ``read-uncommitted`` (PL-1) forbids write cycles (``G0``);
* ``read-committed`` (PL-2) also aborted and intermediate reads and ``G1c`` (together ``G1``),
  and dirty updates;
* ``snapshot-isolation`` also ``G-single`` (read skew) and lost updates, but allows ``G2``
  (write skew);
* ``repeatable-read`` (PL-2.99, item anomalies: every key here is an item) forbids
  ``G-single``, ``G2`` and lost updates;
* ``serializable`` (PL-3) everything above, though not the order of processes or real time;
* ``strict-serializable`` also the ``-process`` and ``-realtime`` cycles, and acknowledged
  appends a later read missed.

Snapshot isolation and repeatable read are incomparable: each allows something the other
forbids. Reads of values nobody wrote, duplicated elements, transactions that do not see
their own writes and keys with no single order are ruled out by every model.
"""

from __future__ import annotations

from checkers.elle._consistency import CONSISTENCY_MODELS
from checkers.elle._graph import CYCLE_ANOMALIES

_ALWAYS = frozenset({"garbage-read", "duplicate-elements", "internal", "incompatible-order"})
_RU = _ALWAYS | {"G0"}
_RC = _RU | {"G1a", "G1b", "G1c", "dirty-update"}
_SI = _RC | {"G-single", "lost-update"}
_RR = _RC | {"G-single", "G2", "lost-update"}
_SER = _SI | _RR
_STRICT = _SER | {a for a in CYCLE_ANOMALIES if a.endswith(("-process", "-realtime"))} | {"lost-append"}

#: Model → the anomalies it forbids.
FORBIDS: dict[str, frozenset[str]] = {
    "strict-serializable": frozenset(_STRICT),
    "serializable": frozenset(_SER),
    "snapshot-isolation": frozenset(_SI),
    "repeatable-read": frozenset(_RR),
    "read-committed": frozenset(_RC),
    "read-uncommitted": frozenset(_RU),
}

#: Findings that are no anomaly of the database but make the history uncheckable in part
#: (values not unique per key): reported, and they make a valid verdict ``unknown``.
INPUT_PROBLEMS = frozenset({"duplicate-append", "duplicate-write"})


def ruled_out(anomalies: set[str]) -> list[str]:
    """The models (strongest first) that forbid at least one of ``anomalies``."""
    return [m for m in CONSISTENCY_MODELS if FORBIDS[m] & anomalies]


def strongest_allowed(anomalies: set[str]) -> list[str]:
    """The strongest models none of ``anomalies`` rules out (two when SI and RR both are)."""
    allowed = [m for m in CONSISTENCY_MODELS if not FORBIDS[m] & anomalies]
    strongest = [m for m in allowed if not any(FORBIDS[m] < FORBIDS[o] for o in allowed)]
    return strongest
