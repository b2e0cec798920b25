"""Delivering queued notifications: POSTs from the durable outbox to each subscriber's notificationURI.

Each notificationURI is a queue served in order: its items are POSTed one after
another and the first failure stops it, so a later notification never overtakes
an earlier one.  Different URIs are served concurrently, at most
`config.notification_concurrency` at once, over one shared HTTP client session
(pooled keep-alive connections).  https URIs are reached over 2030.5 TLS,
presenting the server's own certificate (`config.server_cert`) as the client
certificate.

Each notificationURI's addresses are checked as it is resolved, and its connection made only
to one that passed (server/notification_resolver.py, Config.notification_allow_addresses):
a refused address is a failed delivery, retried with backoff like an unreachable receiver.

A 2xx answer means delivered.  A 400 answer is the client refusing the
notification (IEEE 2030.5: one it did not subscribe to, or cannot take): the
subscription is deleted, with everything queued for it, and the client is not
told (CSIP conformance ERR-002).  Anything else (another status, a refused or
reset connection, no answer within `config.notification_timeout`, a bad URI)
holds the URI back, with a wait that doubles with each failed attempt of its
head item: 1, 2, 4, ... seconds, at most `config.notification_max_backoff`.

Nothing else is dropped: there is no maximum number of attempts.  An item
leaves the outbox only when it has been delivered, when its client refuses it,
or when other code deletes it (with its subscription).

Delivery is at least once, and in order per URI across restarts: each item acknowledged
(2xx) is committed as delivered before the next item of its URI is POSTed, so after a
crash at most the one item that was in flight per URI is POSTed again.  The commits of
items acknowledged on different URIs at about the same time are grouped into one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl

import aiohttp
from yarl import URL

from ..clock import Clock, SystemClock
from ..config import Config
from ..observability.metrics import DELIVERIES
from ..store.base import OutboxItem
from ..store.sqlite import SQLiteStore
from .notification_resolver import CheckedResolver, Destinations, RefusedAddress
from .outbox_loop import OutboxLoop

log = logging.getLogger(__name__)

SEP_XML = "application/sep+xml"
REFUSED = "HTTP 400: the client refuses the notification"


class NotificationDelivery(OutboxLoop[str]):
    """Sends the outbox: `deliver_due()` for one pass, or `start()` for a background task."""

    name = "notification"

    def __init__(self, store: SQLiteStore, config: Config, clock: Clock = SystemClock(), *,
                 batch: int = 100, heads: int = 500, poll: float = 5.0, batch_marking: bool = False) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.batch = batch  # items of one URI read per pass
        # True: the behaviour before issue 9, kept only as bench/bench_delivery.py's baseline: a batch's
        # acknowledged items are marked delivered together after it, so a crash re-sends all of them
        self.batch_marking = batch_marking
        self.heads = heads  # URIs looked at per pass
        self._saturated = False  # the last pass found as many due URIs as it looks at: there may be more
        self.poll = poll  # longest sleep, so that items queued by another process are seen
        self.delivered_total = 0
        self.failed_total = 0
        self._limit = asyncio.Semaphore(config.notification_concurrency)
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._tls: ssl.SSLContext | None = None
        self._busy: dict[str, asyncio.Task[int]] = {}  # URI -> the task sending its queue
        self._held: dict[str, int] = {}  # URI -> when this process will retry it
        self._acknowledged: list[int] = []  # delivered, not yet removed from the outbox
        self._next_commit: asyncio.Future[None] | None = None  # done when _acknowledged is committed
        self._committer: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.destinations = Destinations(config.notification_policy)  # start_server sets the bound ports
        self._refusals_logged: set[str] = set()  # URIs whose refused addresses were logged
        self._subscribers: dict[int, str | None] = {}  # subscription id -> its client's LFDI, for log lines

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="notification-delivery")

    async def stop(self) -> None:
        """Stops the background task and any POSTs under way, and closes the connections."""
        tasks = [t for t in (self._task, *self._busy.values()) if t is not None]
        self._task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._committer is not None:  # what receivers acknowledged is committed before we return
            await asyncio.gather(self._committer, return_exceptions=True)
            self._committer = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def wake(self) -> None:
        """New items are in the outbox: look now rather than at the next poll (call on the event loop)."""
        self._wake.set()

    # -- delivery -------------------------------------------------------------

    async def deliver_due(self) -> int:
        """One pass: each URI with a due head sends up to `batch` of its items, and sends already under way
        finish.  Returns how many were delivered."""
        await self._launch_due()
        results = await asyncio.gather(*self._busy.values(), return_exceptions=True)
        return sum(r for r in results if isinstance(r, int))

    async def _launch_due(self) -> list[asyncio.Task[int]]:
        due = await self.store.outbox_heads(self.clock.now(), self.heads)
        self._saturated = len(due) >= self.heads
        tasks = []
        for head in due:
            if head.uri not in self._busy:
                task = asyncio.create_task(self._send_queue(head.uri))
                self._busy[head.uri] = task
                task.add_done_callback(functools.partial(self._finished, head.uri))
                tasks.append(task)
        return tasks

    def _finished(self, uri: str, task: asyncio.Task[int]) -> None:
        self._busy.pop(uri, None)
        if task.cancelled():
            return
        if task.exception() is not None:  # the store failed: left to the next poll
            log.error("sending notifications to %s failed", uri, exc_info=task.exception())
            return
        if uri in self._held:  # it now waits for a retry: the loop's next sleep must allow for it
            self._wake.set()
        elif self._saturated and len(self._busy) <= self.heads // 4:  # most of the pass is done: fetch more
            self._wake.set()

    async def _send_queue(self, uri: str) -> int:
        """Sends uri's queue in order until it is empty or an item fails."""
        total = 0
        while True:
            sent, more = await self._send_batch(uri)
            total += sent
            if not more:
                return total

    async def _send_batch(self, uri: str) -> tuple[int, bool]:
        """One batch of uri's queue; (how many were delivered, whether to go on with the next batch).

        Each acknowledged item is committed as delivered before the next item of uri is POSTed, so a crash
        repeats at most the one item in flight per URI, and a subscriber never hears an older state again
        after a newer one."""
        async with self._limit:
            items = await self.store.outbox_queue(uri, self.batch)
            delivered: list[int] = []
            failure: tuple[OutboxItem, str] | None = None
            refused: OutboxItem | None = None
            try:
                for item in items:
                    error = await self._post(item)
                    if error == REFUSED:
                        refused = item
                        break
                    if error is not None:
                        failure = (item, error)
                        break
                    delivered.append(item.id)
                    DELIVERIES.labels("notifications", "delivered").inc()
                    if log.isEnabledFor(logging.INFO):
                        log.info("notification %d delivered to %s", item.id, uri,
                                 extra={"event": "delivery", "outbox": "notifications", "result": "delivered",
                                        "lfdi": await self._subscriber(item.subscription_id),
                                        "notification_id": item.id, "subscription_id": item.subscription_id,
                                        "uri": uri, "attempt": item.attempts + 1})
                    if not self.batch_marking:
                        await self._remove([item.id])
                        self.delivered_total += 1
            finally:  # batch_marking, also when stopped midway: what was acknowledged is not sent again
                if self.batch_marking and delivered:
                    await self._remove(delivered)
                    self.delivered_total += len(delivered)
            if refused is not None:
                DELIVERIES.labels("notifications", "refused").inc()
                await self.store.drop_refused_subscription(refused.subscription_id)
                self._held.pop(uri, None)
                log.info("notification %d to %s answered 400: subscription %d deleted", refused.id, uri,
                         refused.subscription_id)
                return len(delivered), True
            if failure is not None:  # after outbox_delivered, so the failed item is the head
                item, error = failure
                self.failed_total += 1
                DELIVERIES.labels("notifications", "failed").inc()
                backoff = min(self.config.notification_max_backoff, 1 << min(item.attempts, 30))
                retry_at = self.clock.now() + backoff
                self._held[uri] = retry_at
                await self.store.outbox_retry(uri, retry_at, error)
                if error.startswith(RefusedAddress.__name__):
                    if uri not in self._refusals_logged:
                        self._refusals_logged.add(uri)
                        log.warning("notifications to %s are held back, retried with backoff: %s", uri, error)
                elif log.isEnabledFor(logging.INFO):
                    log.info("notification %d to %s failed (attempt %d, retry in %d s): %s",
                             item.id, uri, item.attempts + 1, backoff, error,
                             extra={"event": "delivery", "outbox": "notifications", "result": "failed",
                                    "lfdi": await self._subscriber(item.subscription_id),
                                    "notification_id": item.id, "subscription_id": item.subscription_id,
                                    "uri": uri, "attempt": item.attempts + 1, "error": error})
            else:
                self._held.pop(uri, None)
                self._refusals_logged.discard(uri)
            # go on while the queue yields items: some may have been queued while these were sent
            return len(delivered), failure is None and bool(items)

    async def _subscriber(self, subscription_id: int) -> str | None:
        """The LFDI of the client whose subscription this is (None once it has ended), read once."""
        if subscription_id not in self._subscribers:
            if len(self._subscribers) >= 10_000:
                self._subscribers.clear()
            record = await self.store.subscription(subscription_id)
            self._subscribers[subscription_id] = record.client_lfdi if record is not None else None
        return self._subscribers[subscription_id]

    async def _remove(self, item_ids: list[int]) -> None:
        """Removes delivered items; returns once they are committed.

        A group commit: the items acknowledged on any URI while one commit is written go together in the
        next, so each waits for at most the commit under way and its own."""
        self._acknowledged.extend(item_ids)
        if self._next_commit is None:
            self._next_commit = asyncio.get_running_loop().create_future()
        committed = self._next_commit
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_acknowledged())
        await asyncio.shield(committed)  # a cancelled sender leaves the commit to go on for the others

    async def _commit_acknowledged(self) -> None:
        while self._acknowledged:
            batch, committed = self._acknowledged, self._next_commit
            self._acknowledged, self._next_commit = [], None
            assert committed is not None  # made with the first of the items acknowledged
            try:
                await self.store.outbox_delivered(batch)
            except asyncio.CancelledError:
                for waiting in (committed, self._next_commit):
                    if waiting is not None:
                        waiting.cancel()
                raise
            except Exception as exc:  # their senders fail with it: each item is sent again on a later pass
                committed.set_exception(exc)
                committed.exception()  # retrieved: a sender that was cancelled meanwhile will not ask
            else:
                committed.set_result(None)

    async def _post(self, item: OutboxItem) -> str | None:
        """None when the receiver answered 2xx, REFUSED for 400, else what went wrong."""
        try:
            self.destinations.check_literal(URL(item.uri))
            session = self._client()
            tls = self._client_tls() if item.uri.lower().startswith("https:") else True
            async with session.post(item.uri, data=item.body, headers={"Content-Type": SEP_XML}, ssl=tls,
                                    allow_redirects=False) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return None
                if resp.status == 400:
                    return REFUSED
                return f"HTTP {resp.status} {resp.reason or ''}".strip()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # refused address or connection, reset, timed out, TLS, bad URI: all retried
            return f"{type(exc).__name__}: {exc}"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.config.notification_concurrency,
                                               resolver=CheckedResolver(self.destinations)),
                timeout=aiohttp.ClientTimeout(total=self.config.notification_timeout))
        return self._session

    async def _next_attempt(self) -> int | None:
        return await self.store.next_outbox_attempt()
