"""Escaping, the one way text from a run reaches the HTML.

* :func:`esc` for text and attribute values (``&``, ``<``, ``>``, ``"`` and ``'``).
* :func:`json_script` for data: every ``<``, ``>`` and ``&`` inside the JSON is
  written as a ``\\u00XX`` escape, so no history string can close the
  ``<script>`` element (``</script>``) or open a comment (``<!--``); JSON.parse
  reads the escapes back unchanged.
* :func:`content_security_policy` allows only the page's own inline script (by
  its SHA-256 hash) and nothing from the network: even if a string slipped
  through, it could not run, and the page never reaches outside the file.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from typing import Any

_JSON_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def esc(value: Any) -> str:
    """Any value as HTML text, safe in element content and in quoted attributes."""
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


def json_script(element_id: str, data: Any) -> str:
    """A ``<script type="application/json">`` element holding ``data``, safe whatever the strings."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)
    return f'<script type="application/json" id="{esc(element_id)}">{text.translate(_JSON_ESCAPES)}</script>'


def script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(*scripts: str) -> str:
    """A CSP for a self-contained page whose only code is ``scripts`` (inline, by hash)."""
    hashes = " ".join(script_hash(s) for s in scripts)
    return (
        f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
