"""Every file of the public Porcupine corpus gets its expected verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from checkers import CheckContext, LinearizabilityChecker
from harness.core import read_history

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "porcupine"


def _expected() -> list[tuple[str, bool]]:
    if not (CORPUS / "expected.tsv").exists():
        return []
    rows = (CORPUS / "expected.tsv").read_text().splitlines()[1:]
    return [(name, verdict == "true") for name, verdict in (row.split("\t") for row in rows if row.strip())]


EXPECTED = _expected()


@pytest.mark.skipif(not EXPECTED, reason=f"the Porcupine corpus is not at {CORPUS}")
def test_corpus_has_every_file() -> None:
    assert len(EXPECTED) == 108


@pytest.mark.skipif(not EXPECTED, reason=f"the Porcupine corpus is not at {CORPUS}")
@pytest.mark.parametrize(("name", "linearizable"), EXPECTED, ids=[n for n, _ in EXPECTED] or None)
def test_corpus_file_verdict(name: str, linearizable: bool) -> None:
    model = "kv" if name.startswith("kv/") else "cas-register"
    result = LinearizabilityChecker(model).check(read_history(CORPUS / name), CheckContext(time_limit=60))
    assert result.valid is linearizable, result.reason
