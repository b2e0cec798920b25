"""What the server's DER programs say, fetched once for all the devices that follow them.

The bridge reaches every program through one certificate, so a program's
DERControlList, DefaultDERControl and curves read the same for each of its
devices: they are fetched (and subscribed to) once per href, and every device
whose FunctionSetAssignments lead to them shares the copy.

- A ``ListEntry`` is one DERProgramList (``/fsa/{g}/derp``), with the devices
  whose FSAs name it.
- A ``ProgramEntry`` is one DERProgram with its events, default and curves.

Each entry is refetched when a Notification says it changed, and in any case
every pollRate seconds (the DERProgramList's pollRate), the safety net for
lost notifications.  A poll that finds a change no notification announced
checks the subscription still exists, and subscribes again if it does not.
When an entry's content changes, ``on_change`` is called with the names of
the devices that follow it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from der_gateway.sep import model

from . import sunspec_map as sm
from .client import ClientError, HttpError, SepClient, ServerUnavailable, href_of
from .decision import ProgramView

log = logging.getLogger(__name__)

DEFAULT_POLL_RATE = 900  # seconds, when a list gives none (the standard's default)

Subscribe = Callable[[str], Awaitable[str | None]]  # resource href -> Subscription href (None: not now)
Verify = Callable[[str], Awaitable[bool]]  # Subscription href -> whether it still exists


@dataclass
class Watch:
    """A resource kept fresh: its subscription and its polling."""

    href: str
    poll_rate: int = DEFAULT_POLL_RATE
    next_poll: float = 0.0
    fetched: int = 0  # the refresh sequence number of the last successful fetch (0: never)
    fetched_at: float = 0.0
    notified_at: float = 0.0
    subscription: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)


@dataclass
class ListEntry:
    watch: Watch
    programs: list[model.DERProgram] | None = None
    devices: set[str] = field(default_factory=set)


@dataclass
class ProgramEntry:
    href: str
    program: model.DERProgram
    controls_watch: Watch | None
    default_watch: Watch | None
    controls: list[model.DERControl] | None = None
    default: model.DefaultDERControl | None = None
    lists: set[str] = field(default_factory=set)
    poll_rate: int = DEFAULT_POLL_RATE
    next_poll: float = 0.0
    loaded: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    fetched: int = 0


def curve_links(base: model.DERControlBase | None) -> list[str]:
    if base is None:
        return []
    return [getattr(base, mode).href for mode in sm.CURVE_TYPES if getattr(base, mode) is not None]


class ProgramCache:
    def __init__(self, client: SepClient, *, subscribe: Subscribe | None = None, verify: Verify | None = None,
                 on_change: Callable[[set[str]], None] = lambda devices: None, min_poll: float = 1.0) -> None:
        self.client = client
        self.subscribe = subscribe
        self.verify = verify
        self.on_change = on_change
        self.min_poll = min_poll
        self.lists: dict[str, ListEntry] = {}
        self.programs: dict[str, ProgramEntry] = {}
        self.curves: dict[str, model.DERCurve] = {}
        self.missing_curves: set[str] = set()
        self._device_lists: dict[str, tuple[str, ...]] = {}
        self._seq = itertools.count(1)
        self._tasks: set[asyncio.Task] = set()
        self.fetches = 0

    # -- what devices follow ----------------------------------------------------------------------

    def attach(self, device: str, list_hrefs: Iterable[str]) -> None:
        """The device now follows these DERProgramLists (and no others)."""
        wanted = tuple(dict.fromkeys(list_hrefs))
        for href in self._device_lists.get(device, ()):
            if href not in wanted and href in self.lists:
                self.lists[href].devices.discard(device)
        for href in wanted:
            entry = self.lists.get(href)
            if entry is None:
                entry = self.lists[href] = ListEntry(Watch(href))
            entry.devices.add(device)
        self._device_lists[device] = wanted

    def lists_of(self, device: str) -> tuple[str, ...]:
        return self._device_lists.get(device, ())

    async def ensure(self, list_hrefs: Iterable[str]) -> None:
        """Load the lists (and their programs) not loaded yet."""
        pending = [h for h in list_hrefs if self.lists[h].programs is None]
        await asyncio.gather(*(self.refresh_list(h) for h in pending))

    def loaded(self, device: str) -> bool:
        hrefs = self._device_lists.get(device)
        if hrefs is None:
            return False
        for href in hrefs:
            entry = self.lists.get(href)
            if entry is None or entry.programs is None:
                return False
            for program in entry.programs:
                p = self.programs.get(href_of(program))
                if p is None or not p.loaded:
                    return False
        return True

    def views(self, device: str) -> list[ProgramView] | None:
        """The device's programs as decision.decide takes them; None until all of them have been read."""
        if not self.loaded(device):
            return None
        out: dict[str, ProgramView] = {}
        for href in self._device_lists[device]:
            for program in self.lists[href].programs or ():
                entry = self.programs[href_of(program)]
                out.setdefault(entry.href, ProgramView(entry.href, entry.program.primacy, entry.default,
                                                       tuple(entry.controls or ())))
        return list(out.values())

    def devices_of_program(self, href: str) -> set[str]:
        entry = self.programs.get(href)
        if entry is None:
            return set()
        return set().union(*(self.lists[h].devices for h in entry.lists if h in self.lists))

    # -- refreshing ----------------------------------------------------------------------------------

    async def refresh_list(self, href: str, *, polled: bool = False) -> None:
        entry = self.lists[href]
        watch = entry.watch
        asked = next(self._seq)
        async with watch.lock:
            if watch.fetched > asked:  # fetched after we were asked: fresh enough
                return
            await self._ensure_subscribed(watch)
            seq = next(self._seq)
            try:
                self.fetches += 1
                fetched = await self.client.get_list(href, model.DERProgramList, "DERProgram")
                programs = list(fetched.DERProgram)
                poll_rate = fetched.pollRate or DEFAULT_POLL_RATE
            except HttpError as exc:
                if exc.status not in (403, 404):
                    raise
                programs, poll_rate = [], watch.poll_rate  # no longer visible: it leads nowhere
            previous = entry.programs
            self._fetched(watch, seq, poll_rate)
            entry.programs = programs
            # the programs it names
            for program in programs:
                program_href = href_of(program)
                known = self.programs.get(program_href)
                if known is None:
                    known = self.programs[program_href] = ProgramEntry(
                        program_href, program,
                        Watch(program.DERControlListLink.href) if program.DERControlListLink else None,
                        Watch(program.DefaultDERControlLink.href) if program.DefaultDERControlLink else None)
                    known.program = program
                known.lists.add(href)
            for other in self.programs.values():
                if href in other.lists and other.href not in {href_of(p) for p in programs}:
                    other.lists.discard(href)
            for program in programs:
                known = self.programs[href_of(program)]
                known.poll_rate = min(self.lists[h].watch.poll_rate for h in known.lists)
                changed_links = self._relink(known, program)
                if not known.loaded or changed_links:
                    await self.refresh_program(known.href)
            for stale in [h for h, p in self.programs.items() if not p.lists]:
                del self.programs[stale]
        if polled and previous is not None and previous != programs:
            await self._check_subscription(watch)
        if previous != programs:
            self.on_change(set(entry.devices))

    def _relink(self, entry: ProgramEntry, program: model.DERProgram) -> bool:
        """Take the program's latest representation; True when its links moved (refetch what they name)."""
        entry.program = program
        changed = False
        for attr, link in (("controls_watch", program.DERControlListLink),
                           ("default_watch", program.DefaultDERControlLink)):
            watch: Watch | None = getattr(entry, attr)
            if (watch.href if watch else None) != (link.href if link else None):
                setattr(entry, attr, Watch(link.href) if link else None)
                changed = True
        return changed

    async def refresh_program(self, href: str, *, polled: bool = False) -> None:
        entry = self.programs.get(href)
        if entry is None:
            return
        asked = next(self._seq)
        async with entry.lock:
            if entry.fetched > asked:
                return
            for watch in (entry.controls_watch, entry.default_watch):
                if watch is not None:
                    await self._ensure_subscribed(watch)
            seq = next(self._seq)
            controls: list[model.DERControl] = []
            if entry.controls_watch is not None:
                self.fetches += 1
                try:
                    listed = await self.client.get_list(entry.controls_watch.href, model.DERControlList, "DERControl")
                    controls = list(listed.DERControl)
                except HttpError as exc:
                    if exc.status not in (403, 404):
                        raise
            default = None
            if entry.default_watch is not None:
                self.fetches += 1
                default = await self.client.get_optional(entry.default_watch.href, model.DefaultDERControl)
            await self._load_curves([c.DERControlBase for c in controls]
                                    + ([default.DERControlBase] if default else []))
            before = (entry.controls, entry.default) if entry.loaded else None
            entry.controls, entry.default, entry.loaded = controls, default, True
            entry.fetched = seq
            entry.next_poll = time.time() + max(self.min_poll, entry.poll_rate)
            for watch in (entry.controls_watch, entry.default_watch):
                if watch is not None:
                    self._fetched(watch, seq, entry.poll_rate)
        if before != (controls, default):
            if polled and before is not None:
                for watch in (entry.controls_watch, entry.default_watch):
                    if watch is not None:
                        await self._check_subscription(watch)
            self.on_change(self.devices_of_program(href))

    async def _load_curves(self, bases: list[model.DERControlBase]) -> None:
        wanted = {h for base in bases for h in curve_links(base)} - set(self.curves)
        for href in sorted(wanted):
            self.fetches += 1
            curve = await self.client.get_optional(href, model.DERCurve)
            if curve is None:
                self.missing_curves.add(href)
            else:
                self.missing_curves.discard(href)
                self.curves[href] = curve

    def _fetched(self, watch: Watch, seq: int, poll_rate: int) -> None:
        watch.fetched = seq
        watch.fetched_at = time.time()
        watch.poll_rate = poll_rate
        watch.next_poll = watch.fetched_at + max(self.min_poll, poll_rate)

    # -- subscriptions -------------------------------------------------------------------------------

    async def _ensure_subscribed(self, watch: Watch) -> None:
        if watch.subscription is None and self.subscribe is not None:
            watch.subscription = await self.subscribe(watch.href)

    async def _check_subscription(self, watch: Watch) -> None:
        """A poll saw a change: if no notification came since the fetch before, is the subscription still there?"""
        if watch.subscription is None or self.verify is None or watch.notified_at >= watch.fetched_at - 1:
            return
        try:
            if not await self.verify(watch.subscription):
                log.info("subscription %s to %s is gone: subscribing again", watch.subscription, watch.href)
                watch.subscription = None
        except ClientError:
            pass

    def subscriptions(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for listed in self.lists.values():
            out[listed.watch.href] = listed.watch.subscription
        for entry in self.programs.values():
            for watch in (entry.controls_watch, entry.default_watch):
                if watch is not None:
                    out[watch.href] = watch.subscription
        return out

    # -- notifications and polls ---------------------------------------------------------------------

    def notified(self, resource: str, status: int, subscription: str | None) -> bool:
        """A Notification about ``resource``: schedule its refetch.  False when the cache does not hold it."""
        now = time.time()
        if resource in self.lists:
            self._on_notice(self.lists[resource].watch, now, status, subscription)
            self._spawn(self.refresh_list(resource))
            return True
        for entry in self.programs.values():
            for watch in (entry.controls_watch, entry.default_watch):
                if watch is not None and watch.href == resource:
                    self._on_notice(watch, now, status, subscription)
                    self._spawn(self.refresh_program(entry.href))
                    return True
        return False

    @staticmethod
    def _on_notice(watch: Watch, now: float, status: int, subscription: str | None) -> None:
        watch.notified_at = now
        if status != 0 and (subscription is None or subscription == watch.subscription):
            watch.subscription = None  # the subscription ended: subscribe again at the refetch

    def refresh_all(self) -> None:
        """Refetch everything (after an outage: notifications may have been missed)."""
        for href in list(self.lists):
            self._spawn(self.refresh_list(href))

    def next_poll(self) -> float | None:
        times = [e.watch.next_poll for e in self.lists.values() if e.programs is not None and e.devices]
        times += [p.next_poll for p in self.programs.values() if p.loaded]
        return min(times) if times else None

    async def poll_due(self, now: float) -> None:
        jobs = [self.refresh_list(h, polled=True) for h, e in self.lists.items()
                if e.devices and e.programs is not None and e.watch.next_poll <= now]
        jobs += [self.refresh_program(h, polled=True) for h, p in self.programs.items()
                 if p.loaded and p.next_poll <= now]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception) and not isinstance(result, ServerUnavailable):
                log.warning("polling programs: %s", result)

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coro
            except ServerUnavailable:
                pass  # the client's probe brings everything back when the server is up
            except ClientError as exc:
                log.warning("refetching after a notification: %s", exc)
        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
