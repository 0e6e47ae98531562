"""JSON text from clients, parsed so that deep nesting is invalid JSON rather than a crash.

Python's ``json`` decoder recurses once per nested array or object, and a document nested deeper than the
interpreter's recursion limit (5,000 ``{"a":`` in a row, a few kilobytes) raises ``RecursionError`` —
which is not a ``ValueError``, so code that refuses invalid JSON let it through as a 500. RFC 8259 §9:
an implementation MAY set limits on the depth of nesting. :func:`loads` reports a document beyond that
depth as :class:`JsonTooDeep`, a ``ValueError``, so every caller refuses it as it refuses other invalid
JSON.

Example::

    try:
        document = loads(body)
    except ValueError as exc:  # malformed, not UTF-8, or nested too deeply
        raise BadRequest("The body is not valid JSON.", code="invalid_json") from exc
"""

from __future__ import annotations

import json
from typing import Any


class JsonTooDeep(ValueError):
    """The document nests arrays and objects deeper than the parser goes."""

    def __init__(self) -> None:
        super().__init__("the JSON document is nested too deeply")


def loads(text: str | bytes, **kwargs: Any) -> Any:
    """``json.loads(text, **kwargs)``, raising :class:`JsonTooDeep` instead of ``RecursionError``."""
    try:
        return json.loads(text, **kwargs)
    except RecursionError as exc:
        raise JsonTooDeep() from exc
