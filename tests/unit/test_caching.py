"""The bounded cache behind the hot path's parsed documents and keys keeps at most its size."""

from __future__ import annotations

from simulator.core.caching import BoundedCache


def test_a_kept_value_is_returned_and_an_unknown_key_gives_none() -> None:
    cache: BoundedCache[str, int] = BoundedCache(4)
    cache.put("a", 1)

    assert cache.get("a") == 1
    assert cache.get("b") is None


def test_a_write_into_a_full_cache_empties_it_first() -> None:
    cache: BoundedCache[int, str] = BoundedCache(3)
    for key in range(3):
        cache.put(key, str(key))

    cache.put(3, "3")

    assert len(cache) == 1
    assert cache.get(3) == "3"
    assert [cache.get(key) for key in range(3)] == [None, None, None]


def test_writing_a_key_again_replaces_its_value_in_a_cache_with_room() -> None:
    cache: BoundedCache[str, int] = BoundedCache(3)
    cache.put("a", 1)
    cache.put("a", 2)

    assert cache.get("a") == 2
    assert len(cache) == 1
