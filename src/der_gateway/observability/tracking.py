"""What the admin views /connections and /refusals show: the 2030.5 listener's open connections and the
clients refused lately, kept in memory by each process.

Every worker of `serve --workers N` serves a share of the connections, and any of them may answer the admin
request; so each process also writes its part, at most twice a second when it changed, to DIR/<pid>.json
(DIR: observability/ in the data directory, emptied by the parent before the workers start), and a view merges
its own part with the files of the others: their connections while that process lives, their refusals always.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, Callable, Literal, TypedDict

from aiohttp import web

from .metrics import REFUSALS, TLS_HANDSHAKES

log = logging.getLogger("der_gateway.refusals")

RECENT = 200  # refusals each process remembers
WRITE_DELAY = 0.5  # seconds a change waits before the process's part is written
LFDI_KEY = web.RequestKey("caller_lfdi", str)  # the caller's LFDI, once the 2030.5 application knows it


@dataclass
class ConnectionView:
    peer: str
    since: int
    lfdi: str | None = None
    requests: int = 0


@dataclass(frozen=True)
class Refusal:
    at: int
    kind: str  # "tls" or "http"
    reason: str
    status: int | None = None
    lfdi: str | None = None
    path: str | None = None


class Client(TypedDict):
    lfdi: str | None
    peer: str
    since: int
    requests: int


class Connections(TypedDict):
    open: int
    clients: list[Client]


class RefusalsOfAReason(TypedDict):
    reason: str
    kind: Literal["tls", "http"]
    count: int
    last_at: int


class RefusalSeen(TypedDict):
    at: int
    kind: Literal["tls", "http"]
    reason: str
    status: int | None
    lfdi: str | None
    path: str | None


class Refusals(TypedDict):
    by_reason: list[RefusalsOfAReason]
    recent: list[RefusalSeen]


@dataclass
class ReasonCount:
    count: int = 0
    last_at: int = 0


def http_reason(status: int) -> str:
    """A 4xx's reason class: its status phrase ('forbidden', 'not found')."""
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return f"status {status}"


@dataclass
class Tracking:
    """One process's part; directory: where the parts of all processes are written (None: not written)."""

    directory: Path | None = None
    clock: Callable[[], float] = time.time
    connections: dict[int, ConnectionView] = field(default_factory=dict)
    recent: deque[Refusal] = field(default_factory=lambda: deque(maxlen=RECENT))
    by_reason: dict[tuple[str, str], ReasonCount] = field(default_factory=dict)
    _write_pending: bool = False

    # -- what happens ------------------------------------------------------------------------------------------

    def opened(self, key: int, peer: str) -> None:
        self.connections[key] = ConnectionView(peer, int(self.clock()))
        self._changed()

    def closed(self, key: int) -> None:
        if self.connections.pop(key, None) is not None:
            self._changed()

    def request(self, key: int, lfdi: str | None) -> bool:
        """Counts a request on a connection; False if the connection is not one of the listener's."""
        connection = self.connections.get(key)
        if connection is None:
            return False
        connection.requests += 1
        if lfdi is not None:
            connection.lfdi = lfdi
        self._changed()
        return True

    def handshake(self, failure: str | None, peer: str | None = None) -> None:
        """A TLS handshake ended: well (failure None) or refused for the reason given."""
        TLS_HANDSHAKES.labels("ok" if failure is None else "failed").inc()
        if failure is not None:
            self.refused("tls", failure, peer=peer)

    def refused(self, kind: str, reason: str, *, status: int | None = None, lfdi: str | None = None,
                path: str | None = None, peer: str | None = None) -> None:
        now = int(self.clock())
        REFUSALS.labels(kind, reason).inc()
        self.recent.append(Refusal(now, kind, reason, status, lfdi, path))
        counted = self.by_reason.setdefault((kind, reason), ReasonCount())
        counted.count += 1
        counted.last_at = now
        log.info("refused a client (%s): %s", kind, reason,
                 extra={"event": "refusal", "lfdi": lfdi, "kind": kind, "reason": reason, "status": status,
                        "path": path, "peer": peer})
        self._changed()

    # -- this process's part, and the others' ------------------------------------------------------------------

    def part(self) -> dict[str, Any]:
        return {"pid": os.getpid(),
                "connections": [asdict(c) for c in self.connections.values()],
                "recent": [asdict(r) for r in self.recent],
                "by_reason": [{"kind": k, "reason": r, "count": c.count, "last_at": c.last_at}
                              for (k, r), c in self.by_reason.items()]}

    def _changed(self) -> None:
        if self.directory is None or self._write_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.write()
            return
        self._write_pending = True
        loop.call_later(WRITE_DELAY, self.write)

    def write(self) -> None:
        self._write_pending = False
        if self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{os.getpid()}.json"
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(self.part()))
            os.replace(temporary, path)
        except OSError as exc:
            log.warning("cannot write the connection and refusal views to %s: %s", self.directory, exc)

    def parts(self) -> list[tuple[dict[str, Any], bool]]:
        """Every process's part, with whether that process lives: this one's from memory, the others' from
        their files (a dead worker's refusals stay in /refusals until the server restarts; the metrics keep
        counting them after)."""
        own = os.getpid()
        found = [(self.part(), True)]
        if self.directory is None or not self.directory.is_dir():
            return found
        for path in sorted(self.directory.glob("*.json")):
            try:
                pid = int(path.stem)
                if pid == own:
                    continue
                found.append((json.loads(path.read_text()), _alive(pid)))
            except (ValueError, OSError):  # a name not ours, or a part being replaced
                continue
        return found

    def connections_view(self) -> Connections:
        clients: list[Client] = [c for part, alive in self.parts() if alive for c in part["connections"]]
        clients.sort(key=lambda c: (c["since"], c["peer"]))
        return {"open": len(clients), "clients": clients}

    def refusals_view(self, limit: int) -> Refusals:
        counts: dict[tuple[str, str], ReasonCount] = {}
        recent: list[RefusalSeen] = []
        for part, _ in self.parts():
            for row in part["by_reason"]:
                total = counts.setdefault((row["kind"], row["reason"]), ReasonCount())
                total.count += row["count"]
                total.last_at = max(total.last_at, row["last_at"])
            recent.extend(part["recent"])
        recent.sort(key=lambda r: r["at"], reverse=True)
        by_reason: list[RefusalsOfAReason] = [
            {"reason": r, "kind": "tls" if k == "tls" else "http", "count": c.count, "last_at": c.last_at}
            for (k, r), c in sorted(counts.items(), key=lambda kv: (-kv[1].count, kv[0]))]
        return {"by_reason": by_reason, "recent": recent[:limit]}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
