"""A bounded in-process cache for parsed things: documents, keys, settings objects.

The sign-in hot path keeps what is costly to parse (a settings document, an IdP's metadata, a JWKS, a
PEM key) keyed by everything it depends on, usually the text it was parsed from, so an entry is never
stale and nothing needs invalidating: only memory needs a bound. :class:`BoundedCache` empties itself
when it is full. That is the cheapest bound that keeps a lookup a plain dict read (no lock, no recency
bookkeeping), and these caches hold about one live entry per tenant or provider, far fewer than their
size.

Example::

    _parsed: BoundedCache[str, Settings] = BoundedCache(256)
    settings = _parsed.get(text)
    if settings is None:
        settings = parse(text)
        _parsed.put(text, settings)
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """At most ``size`` entries, shared by a process's threads; a write into a full cache empties it first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: dict[K, V] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value kept for ``key``, or ``None`` (no lock: a dict read is atomic)."""
        return self._entries.get(key)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[key] = value

    def __len__(self) -> int:
        return len(self._entries)
