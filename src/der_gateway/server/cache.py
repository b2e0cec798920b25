"""Encoded GET responses, reused until the store changes or their time runs out.

Devices poll the same resources again and again between changes.  A GET's
answer is a function of the caller, the path, the list query (s, a, l), the
store's contents and, for event documents, the time.  It is kept under (caller,
path and normalized query) together with the store version it was built from,
and served again while that version holds: any committed write that can change
it, from this process or another, moves the version on.  The version is a tuple
of the store's change counters (store.generations) for the data the path shows
(topics_read, store.topics): a device uploading its DERStatus moves only its own documents'
counter, and the notifier draining its queues moves none.  An answer built from
the clock (http.timed_response) carries the instant it next changes (an event
starting, ending, leaving the list); it is served only from the second it was
built until the second before that instant.  Paths whose answers depend on the
time (sep.paths.TIME_DEPENDENT) are kept only when their answer says how long
it holds, so Time (/tm) is never kept.

The cache is bounded in bytes.  When it is full, room is made by evicting the
least recently used answers of the caller that holds the most bytes, so one
client filling the cache evicts its own answers, not everyone else's.
"""

from __future__ import annotations

import heapq
import re
from collections import OrderedDict
from functools import lru_cache
from dataclasses import dataclass
from typing import Hashable

from aiohttp import web

from ..domain.numerals import decimal, identifier
from ..store import topics

_DER_DOCUMENT = re.compile(r"^/edev/([0-9]+)/der/[0-9]+/[^/]+$")

# bytes counted for an entry beyond its body: the key, the entry and the dictionaries' slots
ENTRY_OVERHEAD = 400
_LIST_QUERY = (("s", 2**32 - 1), ("a", 2**63 - 1), ("l", 2**32 - 1))


@dataclass(frozen=True)
class Entry:
    version: Hashable
    body: bytes
    content_type: str
    size: int
    built_at: int | None = None  # for an answer built from the clock: the second it was built
    changes_at: int | None = None  # and the instant it next changes (None: never)

    def holds_at(self, now: int | None) -> bool:
        if self.built_at is None:
            return True
        return now is not None and self.built_at <= now and (self.changes_at is None or now < self.changes_at)


def answer_key(request: web.Request, max_list_limit: int) -> str | None:
    """What the answer to a GET depends on besides the caller: its path and its s, a and l values,
    normalized as the handlers read them (defaults filled in, l capped); other query parameters
    are ignored by every handler and so by the key.  None when a value is invalid (the answer is an error)."""
    if not request.query_string:
        return f"{request.path}?s=0&a=&l=1"
    values = []
    for name, maximum in _LIST_QUERY:
        raw = request.query.get(name)
        if raw is None:
            values.append("")
            continue
        value = decimal(raw, maximum)
        if value is None:
            return None
        values.append(str(min(value, max_list_limit) if name == "l" else value))
    start, after, limit = values
    return f"{request.path}?s={start or 0}&a={after}&l={limit or 1}"


UNKNOWN = object()


@lru_cache(maxsize=4096)
def topics_read(path: str) -> tuple[str, ...]:
    """The change counters (store.generations) whose data the answer at path may show: the global one,
    and the one of a resource family stored apart (see store.sqlite_generations)."""
    document = _DER_DOCUMENT.match(path)
    end_device_id = identifier(document.group(1)) if document else None
    if end_device_id is not None:  # (an id that is none is answered 404, which is not kept)
        return topics.GLOBAL, topics.der_documents(end_device_id)
    if path.startswith("/rsps"):
        return topics.GLOBAL, topics.RESPONSES
    if path.startswith(("/mup", "/upt")):
        return topics.GLOBAL, topics.MIRRORS
    return (topics.GLOBAL,)


class ResponseCache:
    def __init__(self, max_bytes: int = 64 * 1024 * 1024, time_dependent: re.Pattern[str] | None = None) -> None:
        self.max_bytes = max_bytes
        self.time_dependent = time_dependent
        self.bytes = 0
        self.hits = 0  # answers served from the cache
        self._by_client: dict[str, OrderedDict[str, Entry]] = {}
        self._held: dict[str, int] = {}  # caller -> bytes of its entries
        self._largest: list[tuple[int, str]] = []  # (-bytes, caller), possibly stale: checked when popped
        # why callers are cut off (revoked, or a suspended aggregator; None: they are not), as of one global change
        # counter
        self._revoked: dict[str, str | None] = {}
        self._revoked_as_of: int | None = None

    def cacheable(self, request: web.Request) -> bool:
        return self.max_bytes > 0 and request.method in ("GET", "HEAD")

    def revoked_at(self, caller: str, global_generation: int) -> object:
        """Whether the operator has revoked the caller's access, as last read while the global change counter
        (which every revocation moves) stood where it stands; UNKNOWN if not read since."""
        if global_generation != self._revoked_as_of:
            return UNKNOWN
        return self._revoked.get(caller, UNKNOWN)

    def note_revoked_at(self, caller: str, global_generation: int, revoked: str | None) -> None:
        if global_generation != self._revoked_as_of or len(self._revoked) > 100_000:
            self._revoked, self._revoked_as_of = {}, global_generation
        self._revoked[caller] = revoked

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._by_client.values())

    def held_by(self, caller: str) -> int:
        return self._held.get(caller, 0)

    def lookup(self, caller: str, key: str, version: Hashable, now: int | None = None) -> web.Response | None:
        entries = self._by_client.get(caller)
        entry = entries.get(key) if entries is not None else None
        if entry is None or entry.version != version or not entry.holds_at(now):
            return None
        entries.move_to_end(key)  # type: ignore[union-attr]
        self.hits += 1
        return web.Response(body=entry.body, content_type=entry.content_type)

    def keep(self, caller: str, key: str, version: Hashable, response: web.StreamResponse,
             now: int | None = None) -> None:
        """Keeps a 200 answer; one built from the clock (response.timed, with response.changes_at) only
        with the time it was built, now, and one at a time-dependent path only if it was built so."""
        if response.status != 200 or not isinstance(response, web.Response) or not isinstance(response.body, bytes):
            return
        timed = getattr(response, "timed", False)
        built_at = getattr(response, "built_at", None) if timed else None
        if timed:
            if now is None:
                return
            built_at = now if built_at is None else max(now, built_at)
        if not timed and self.time_dependent is not None and self.time_dependent.match(key.partition("?")[0]):
            return
        size = len(response.body) + len(key) + ENTRY_OVERHEAD
        if size > self.max_bytes:
            return
        entries = self._by_client.setdefault(caller, OrderedDict())
        old = entries.pop(key, None)
        entries[key] = Entry(version, response.body, response.content_type, size,
                             built_at, getattr(response, "changes_at", None) if timed else None)
        self._count(caller, size - (old.size if old is not None else 0))
        self._note_held(caller)
        while self.bytes > self.max_bytes:
            self._evict_from_largest()

    def _note_held(self, caller: str) -> None:
        """Every caller's current byte count has an item in the heap; stale items are dropped when popped,
        or all at once when they outnumber the current ones."""
        if len(self._largest) > 2 * len(self._held) + 64:
            self._largest = [(-held, c) for c, held in self._held.items()]
            heapq.heapify(self._largest)
        elif caller in self._held:
            heapq.heappush(self._largest, (-self._held[caller], caller))

    def _count(self, caller: str, delta: int) -> None:
        self.bytes += delta
        held = self._held.get(caller, 0) + delta
        if held:
            self._held[caller] = held
        else:
            del self._held[caller]
            del self._by_client[caller]

    def _evict_from_largest(self) -> None:
        while True:
            negative, caller = heapq.heappop(self._largest)
            if self._held.get(caller) == -negative:
                break
        _, evicted = self._by_client[caller].popitem(last=False)
        self._count(caller, -evicted.size)
        self._note_held(caller)
