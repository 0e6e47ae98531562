"""Who a probe page shows as signed in, read exactly: whole values, never substrings.

A forged identity that merely *contains* the victim's (``victim@x.test.evil.test``, which a correct SP
makes of ``victim@x.test<!---->.evil.test``) must not count as the victim. So a value is found in a JSON
body only as a whole string value, and in any other body only where it stands alone: not preceded or
followed by a character that could continue an email address, a member id or a name.

Example::

    shows_value('{"email": "victim@x.test.evil.test"}', "victim@x.test")  # False
    shows_value("<p>Signed in as victim@x.test.</p>", "victim@x.test")    # True
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

IDENTITY_CHARACTERS = r"A-Za-z0-9_@+%\-"
"""Characters that would continue an identity value; a dot continues one only when a word follows it."""


def _leaves(document: Any) -> Iterator[str]:
    if isinstance(document, dict):
        for value in document.values():
            yield from _leaves(value)
    elif isinstance(document, list):
        for value in document:
            yield from _leaves(value)
    elif document is not None and not isinstance(document, bool):
        yield str(document)


def shows_value(body: str, value: str) -> bool:
    """True when ``body`` shows ``value`` as a whole value (JSON: a whole string; text: standing alone)."""
    if not value:
        return False
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if isinstance(document, dict | list):
        return any(leaf == value for leaf in _leaves(document))
    pattern = (
        rf"(?<![{IDENTITY_CHARACTERS}.])"
        + re.escape(value)
        + rf"(?![{IDENTITY_CHARACTERS}])(?!\.[{IDENTITY_CHARACTERS}])"
    )
    return re.search(pattern, body) is not None


def fill(template: str, identity: dict[str, str]) -> str:
    """``template`` with ``{email}``, ``{member_id}``, ``{name}``… replaced by ``identity``'s values."""
    return re.sub(r"\{([a-z_]+)\}", lambda match: identity.get(match.group(1), match.group(0)), template)


def shows_identity(body: str, templates: list[str], identity: dict[str, str]) -> bool:
    """Every template, filled in with ``identity``'s values, is shown as a whole value."""
    return all(shows_value(body, fill(template, identity)) for template in templates)
