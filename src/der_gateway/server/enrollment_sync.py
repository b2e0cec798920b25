"""Delivering enrollment-sync messages: POSTs from the durable sync outbox to each operational endpoint.

When an enrollment, unenrollment or device replacement completes (and when an
aggregator or a program's rules change) one message per operational endpoint
is queued in the same transaction (store/sync_queue.py).  Each is POSTed as
JSON: the queued body plus "messageId" and "acknowledgeUrl", the admin API's
`POST /sync/messages/{id}/ack` where the receiver later acknowledges it,
positively or negatively.

As with 2030.5 notifications (server/delivery.py): each endpoint is a queue
served in order, and its first failure stops it, so a later message never
overtakes an earlier one; endpoints are served concurrently.  A 2xx answer
marks the message 'sent'; anything else (another status, a refused or reset
connection, no answer within `config.sync_timeout`, a bad URL) holds the
endpoint back, with a wait that doubles with each failed attempt of its head
message: 1, 2, 4, ... seconds, at most `config.sync_max_backoff`.  Nothing is
dropped, and the queue is the store's, so it survives restarts.  Delivery is
at least once: a message POSTed just before a crash may be POSTed again, with
the same messageId.

https endpoints are reached over TLS presenting the server's certificate
(`config.server_cert`) as the client certificate and trusting the 2030.5 PKI
(tls.client_context); http endpoints are reached in plain text.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import ssl

import aiohttp

from ..clock import Clock, SystemClock
from ..config import Config
from ..observability.metrics import DELIVERIES
from ..domain.endpoints import endpoint_url_problem
from .outbox_loop import OutboxLoop

log = logging.getLogger(__name__)

JSON = "application/json"


def ack_path(message_id: int) -> str:
    return f"/sync/messages/{message_id}/ack"


class SyncDelivery(OutboxLoop[int]):
    """Sends the sync outbox: `deliver_due()` for one pass, or `start()` for a background task."""

    name = "sync"

    def __init__(self, store, config: Config, clock: Clock = SystemClock(), *, batch: int = 50,
                 poll: float = 5.0, ack_base_url: str | None = None) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.batch = batch  # messages of one endpoint sent per pass
        self.poll = poll  # longest sleep, so that messages queued by another process are seen
        self.ack_base_url = (ack_base_url or config.sync_ack_base_url
                             or f"http://{config.admin_host}:{config.admin_port}").rstrip("/")
        self.sent_total = 0
        self.failed_total = 0
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._tls: ssl.SSLContext | None = None
        self._busy: dict[int, asyncio.Task[int]] = {}  # endpoint id -> the task sending its queue
        self._held: dict[int, int] = {}  # endpoint id -> when this process will retry it
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------

    async def seed_endpoints(self) -> None:
        """Creates or updates the endpoints listed in config.sync_endpoints."""
        for name, url in self.config.sync_endpoints.items():
            problem = endpoint_url_problem(url)
            if problem is not None or not isinstance(name, str) or not name.strip():
                raise ValueError(f"sync_endpoints: {name!r} = {url!r}: {problem or 'the name is empty'}")
        await self.store.ensure_sync_endpoints(dict(self.config.sync_endpoints))

    async def start(self) -> None:
        if self._task is None:
            await self.seed_endpoints()
            self._task = asyncio.create_task(self._run(), name="enrollment-sync-delivery")

    async def stop(self) -> None:
        """Stops the background task and any POSTs under way, and closes the connections."""
        tasks = [t for t in (self._task, *self._busy.values()) if t is not None]
        self._task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def wake(self) -> None:
        """New messages may be queued: look now rather than at the next poll (call on the event loop)."""
        self._wake.set()

    # -- delivery -------------------------------------------------------------

    def payload(self, message) -> bytes:
        """What the receiver gets: the queued body, its messageId and where to acknowledge it."""
        return json.dumps({**message.body, "messageId": message.id,
                           "acknowledgeUrl": self.ack_base_url + ack_path(message.id)}).encode()

    async def deliver_due(self) -> int:
        """One pass: each endpoint whose head is due sends up to `batch` messages, and sends already under
        way finish.  Returns how many were sent."""
        await self._launch_due()
        results = await asyncio.gather(*self._busy.values(), return_exceptions=True)
        return sum(r for r in results if isinstance(r, int))

    async def _launch_due(self) -> None:
        for head in await self.store.sync_heads(self.clock.now()):
            if head.endpoint_id not in self._busy:
                task = asyncio.create_task(self._send_queue(head.endpoint_id))
                self._busy[head.endpoint_id] = task
                task.add_done_callback(functools.partial(self._finished, head.endpoint_id))

    def _finished(self, endpoint_id: int, task: asyncio.Task[int]) -> None:
        self._busy.pop(endpoint_id, None)
        if task.cancelled():
            return
        if task.exception() is not None:  # the store failed: left to the next poll
            log.error("sending sync messages to endpoint %d failed", endpoint_id, exc_info=task.exception())
            return
        self._wake.set()  # more may be queued for it, or it now waits for a retry

    async def _send_queue(self, endpoint_id: int) -> int:
        endpoint = await self.store.sync_endpoint(endpoint_id)
        if endpoint is None:  # deleted meanwhile, with its messages
            return 0
        sent = 0
        for message in await self.store.sync_queue(endpoint_id, self.batch):
            error = await self._post(endpoint.url, message)
            if error is not None:
                self.failed_total += 1
                backoff = min(self.config.sync_max_backoff, 1 << min(message.attempts, 30))
                retry_at = self.clock.now() + backoff
                self._held[endpoint_id] = retry_at
                await self.store.sync_retry(endpoint_id, retry_at, error)
                DELIVERIES.labels("sync", "failed").inc()
                log.info("sync message %d to %s (%s) failed (attempt %d, retry in %d s): %s", message.id,
                         endpoint.name, endpoint.url, message.attempts + 1, backoff, error,
                         extra={"event": "delivery", "outbox": "sync", "result": "failed", "message_id": message.id,
                                "uri": endpoint.url, "attempt": message.attempts + 1, "error": error})
                return sent
            await self.store.sync_sent(message.id)
            DELIVERIES.labels("sync", "delivered").inc()
            log.info("sync message %d delivered to %s", message.id, endpoint.url,
                     extra={"event": "delivery", "outbox": "sync", "result": "delivered", "message_id": message.id,
                            "uri": endpoint.url, "attempt": message.attempts + 1})
            sent += 1
            self.sent_total += 1
        self._held.pop(endpoint_id, None)
        return sent

    async def _post(self, url: str, message) -> str | None:
        """None when the receiver answered 2xx, else what went wrong."""
        try:
            session = self._client()
            tls = self._client_tls() if url.lower().startswith("https:") else True
            async with session.post(url, data=self.payload(message), headers={"Content-Type": JSON}, ssl=tls,
                                    allow_redirects=False) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return None
                return f"HTTP {resp.status} {resp.reason or ''}".strip()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # refused, reset, timed out, TLS, bad URL: all retried
            return f"{type(exc).__name__}: {exc}"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.sync_timeout))
        return self._session

    async def _next_attempt(self) -> int | None:
        return await self.store.next_sync_attempt()
