"""Rendered responses kept until the run store changes (its newest event seq moves on).

Listing runs is what every open panel polls; rendering it once per store change keeps
the answer cheap under many clients.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable


class ResponseCache:
    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, tuple[int, bytes]] = OrderedDict()

    def get(self, key: Hashable, version: int, render: Callable[[], bytes]) -> bytes:
        """The body for ``key`` at store ``version``, rendered again only when it changed."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] == version:
            self._entries.move_to_end(key)
            return entry[1]
        body = render()
        self._entries[key] = (version, body)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return body
