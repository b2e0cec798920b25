"""Encoded GET responses, reused until the store changes.

Devices poll the same resources again and again between changes.  A GET's
answer is a function of the caller, the path and query, and the store's
contents, so it is kept under (caller, path) together with the store version
it was built from, and served again while that version holds.  Any committed
write, from this process or another, moves the version on.  Answers that also
depend on the clock (Time, and event states) are never kept.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True)
class Entry:
    version: int
    body: bytes
    content_type: str


class ResponseCache:
    def __init__(self, max_entries: int = 10_000, time_dependent: re.Pattern[str] | None = None) -> None:
        self.max_entries = max_entries
        self.time_dependent = time_dependent
        self._entries: OrderedDict[tuple[str, str], Entry] = OrderedDict()

    def cacheable(self, request: web.Request) -> bool:
        return (self.max_entries > 0 and request.method in ("GET", "HEAD")
                and not (self.time_dependent and self.time_dependent.match(request.path)))

    def lookup(self, key: tuple[str, str], version: int) -> web.Response | None:
        entry = self._entries.get(key)
        if entry is None or entry.version != version:
            return None
        return web.Response(body=entry.body, content_type=entry.content_type)

    def keep(self, key: tuple[str, str], version: int, response: web.StreamResponse) -> None:
        if response.status != 200 or not isinstance(response, web.Response) or not isinstance(response.body, bytes):
            return
        self._entries[key] = Entry(version, response.body, response.content_type)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
