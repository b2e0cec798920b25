"""The 2030.5 representations of stored state, as one caller sees them.

GET handlers and the notifier both build resources here, so a notification
carries exactly what a GET of the subscribed resource would return.
"""

from __future__ import annotations


import re
from dataclasses import dataclass, field
from typing import Callable, Sequence, TypeVar

from ..clock import Clock
from ..config import Config
from ..domain import events as lifecycle
from ..domain.clients import Client
from ..sep import codec, model, paths
from ..store import ControlRecord, EndDeviceRecord, GroupRecord, MirrorUsagePointRecord, ProgramRecord, Store
from ..store.base import EndDeviceCounts
from .der_controls import RANDOMIZATION_LIMIT, as_event, live_controls
from .pacing import Turns


class Horizon:
    """The earliest instant after which a representation built now may read differently without any write:
    each builder that reads the clock notes the next instant its answer changes."""

    def __init__(self) -> None:
        self.since: int | None = None  # the latest time read
        self.until: int | None = None  # None: nothing built so far changes with the time

    def note(self, now: int, instant: int | None) -> None:
        self.since = now if self.since is None else max(self.since, now)
        if instant is not None and (self.until is None or instant < self.until):
            self.until = instant


@dataclass(frozen=True)
class Viewer:
    """Everything a representation depends on: the store, the settings, the time and the caller."""

    store: Store
    config: Config
    clock: Clock
    client: Client
    horizon: Horizon = field(default_factory=Horizon)

    async def poll_rate(self, resource: str) -> int:
        rate = (await self.store.rates()).get(resource, (None, None))[0]
        return rate if rate is not None else self.config.poll_rate

    async def post_rate(self, resource: str) -> int:
        rate = (await self.store.rates()).get(resource, (None, None))[1]
        return rate if rate is not None else self.config.post_rate

    async def may_see_end_device(self, record: EndDeviceRecord | None) -> bool:
        if record is None:
            return False
        return (self.client.may_act_for(record.lFDI, record.owner_lfdi)
                or await self.store.has_access(record.id, self.client.lfdi))

    @property
    def has_aggregator_end_device(self) -> bool:
        """CSIP-AUS gives an aggregator an EndDevice of its own, which holds its SubscriptionList."""
        return self.client.is_aggregator and self.config.profile == "csip-aus"


T = TypeVar("T")
U = TypeVar("U")

async def built_paced(items: Sequence[T], build: Callable[[T], U], turns: Turns | None = None) -> list[U]:
    """[build(item) for item in items], in turns of the event loop (pacing.Turns): a page of 100 EndDevices takes
    milliseconds to build."""
    turns = turns or Turns()
    built = []
    for item in items:
        await turns.between()
        built.append(build(item))
    return built


# -- MirrorUsagePoint and Response ------------------------------------------------

async def mirror_usage_point(v: Viewer, record: MirrorUsagePointRecord,
                             post_rate: int | None = None) -> model.MirrorUsagePoint:
    mup = codec.from_data(model.MirrorUsagePoint, record.data)
    mup.href = paths.mup(record.id)
    mup.postRate = post_rate if post_rate is not None else await v.post_rate("mup")
    readings = await v.store.mirror_meter_readings(record.id)
    mup.MirrorMeterReading = [codec.from_data(model.MirrorMeterReading, r) for r in readings]
    return mup


async def mirror_usage_point_list(v: Viewer, start: int, limit: int) -> model.MirrorUsagePointList:
    """The caller's MirrorUsagePoints."""
    page = await v.store.mirror_usage_points(v.client.lfdi, start, limit)
    post_rate = await v.post_rate("mup")
    items = [await mirror_usage_point(v, r, post_rate) for r in page.items]
    return model.MirrorUsagePointList(href=paths.MUP_LIST, all=page.all, results=len(items),
                                      pollRate=await v.poll_rate("mup"), MirrorUsagePoint=items)


def response(response_id: int, data: dict) -> model.Response:
    found = codec.from_data(model.Response, data)
    found.href = paths.response(response_id)
    return found


async def response_list(v: Viewer, start: int, limit: int) -> model.ResponseList:
    """The Responses of the EndDevices the caller acts for."""
    total, rows = await v.store.responses_visible_to(v.client.lfdi, start, limit)
    return model.ResponseList(href=paths.DER_RESPONSES, all=total, results=len(rows),
                              Response=await built_paced(rows, lambda row: response(*row)))


# -- EndDevice and FunctionSetAssignments ---------------------------------------

async def end_device(v: Viewer, record: EndDeviceRecord) -> model.EndDevice:
    return (await end_devices(v, [record]))[0]


async def end_devices(v: Viewer, records: list[EndDeviceRecord]) -> list[model.EndDevice]:
    """EndDevices, with the counts of their lists read at once for all of them."""
    if not records:
        return []
    counts = await v.store.end_device_counts([r.id for r in records])
    default_post_rate = await v.post_rate("edev") if any(r.postRate is None for r in records) else None
    none = EndDeviceCounts(0, 0, 0, 0)  # (one deleted since it was read)
    return await built_paced(records, lambda r: _end_device(v, r, counts.get(r.id, none), default_post_rate))


def _end_device(v: Viewer, record: EndDeviceRecord, counts: EndDeviceCounts,
                default_post_rate: int | None) -> model.EndDevice:
    groups = counts.groups if record.enabled else 0
    # an aggregator subscribes through its own EndDevice (CSIP-AUS): the ones it acts for show it no list
    subscriptions = None if v.has_aggregator_end_device else model.ListLink(
        href=paths.subscription_list(record.id), all=counts.subscriptions)
    post_rate = record.postRate if record.postRate is not None else default_post_rate
    return model.EndDevice(
        href=paths.edev(record.id),
        subscribable=1,
        DERListLink=model.ListLink(href=paths.der_list(record.id), all=counts.ders),
        deviceCategory=record.deviceCategory,
        lFDI=record.lFDI,
        LogEventListLink=model.ListLink(href=paths.log_event_list(record.id), all=counts.log_events),
        sFDI=record.sFDI,
        changedTime=record.changedTime,
        enabled=record.enabled,
        FunctionSetAssignmentsListLink=model.ListLink(href=paths.fsa_list(record.id), all=groups),
        postRate=post_rate,
        RegistrationLink=model.Link(href=paths.registration(record.id)),
        SubscriptionListLink=subscriptions,
        ConnectionPointLink=(model.Link(href=paths.connection_point(record.id))
                             if v.config.profile == "csip-aus" else None),
    )


async def aggregator_end_device(v: Viewer) -> model.EndDevice | None:
    """The calling aggregator's own EndDevice (CSIP-AUS), derived from its certificate; None if it has none.

    It is the aggregator itself, not a DER: its identity and its SubscriptionList, through which it
    subscribes to the resources of every EndDevice it acts for.  It never changes after the
    aggregator becomes known, and cannot be registered, changed or deleted by a client.
    """
    if not v.has_aggregator_end_device:
        return None
    since = await v.store.aggregator_created(v.client.lfdi)
    if since is None:
        return None
    subscriptions = await v.store.count_subscriptions(v.client.lfdi, None)
    return model.EndDevice(
        href=paths.edev(paths.AGGREGATOR_EDEV_ID), subscribable=0, lFDI=v.client.lfdi, sFDI=v.client.sfdi,
        changedTime=since, enabled=True,
        SubscriptionListLink=model.ListLink(href=paths.subscription_list(None), all=subscriptions))


async def end_device_list(v: Viewer, start: int, limit: int, after: int | None = None) -> model.EndDeviceList:
    """The EndDevices the caller may act for; a CSIP-AUS aggregator's own EndDevice comes first."""
    own = await aggregator_end_device(v)
    leading = [own] if own is not None and (after is None or own.changedTime >= after) else []
    shown = leading[start:start + limit]
    page = await v.store.end_devices_visible_to(v.client.lfdi, max(0, start - len(leading)),
                                                limit - len(shown), after)
    shown += await end_devices(v, list(page.items))
    return model.EndDeviceList(href=paths.EDEV_LIST, subscribable=1, all=page.all + len(leading),
                               results=len(shown), pollRate=await v.poll_rate("edev"), EndDevice=shown)


async def end_device_audience(store, record: EndDeviceRecord) -> tuple[str, ...]:
    """The clients whose EndDeviceList holds this EndDevice (as Viewer.may_see_end_device decides)."""
    return (record.lFDI, record.owner_lfdi, *await store.access_grants(record.id))


def end_device_list_change(*client_lfdis: str) -> tuple[str, int, tuple[str, ...]]:
    """A change for the log: these clients' EndDeviceLists gained or lost an EndDevice.  A change to an
    EndDevice itself (its href) is a change to the lists holding it too; the notifier sees to that."""
    return paths.EDEV_LIST, 0, tuple(client_lfdis)


async def fsa(v: Viewer, group: GroupRecord) -> model.FunctionSetAssignments:
    programs = len(await v.store.programs_of_group(group.id))
    return model.FunctionSetAssignments(
        href=paths.fsa(group.id), subscribable=0,
        DERProgramListLink=model.ListLink(href=paths.program_list(group.id), all=programs),
        TimeLink=model.Link(href=paths.TIME), mRID=group.mRID, description=group.description,
        version=group.version)


async def fsa_list(v: Viewer, record: EndDeviceRecord, start: int, limit: int) -> model.FunctionSetAssignmentsList:
    groups = await v.store.groups_of(record.id) if record.enabled else []
    shown = groups[start:start + limit]
    return model.FunctionSetAssignmentsList(
        href=paths.fsa_list(record.id), subscribable=1, all=len(groups), results=len(shown),
        pollRate=await v.poll_rate("fsa"), FunctionSetAssignments=[await fsa(v, g) for g in shown])


# -- DERProgram and what hangs off it -----------------------------------------------

def _over(r: ControlRecord) -> int:
    """When an event leaves the DERControlList: its end, counting randomization."""
    spread = max(abs(r.data.get("randomizeStart") or 0), abs(r.data.get("randomizeDuration") or 0))
    return r.start + r.duration + spread


def _visible_controls(records: list[ControlRecord], now: int) -> list[ControlRecord]:
    """Events not yet over, counting randomization; cancelled and superseded ones stay until then."""
    return [r for r in records if _over(r) > now]


def _live_states(v: Viewer, records: list[ControlRecord], now: int) -> dict[int, lifecycle.EventState]:
    """The states of a program's live events (der_controls.live_controls), noting on the viewer's horizon
    the next instant any of them, or the list they are shown in, changes: an event's state changes,
    it leaves the list (_over), or it falls out of the live window and stops counting for the others."""
    states, changes_at = lifecycle.timeline([as_event(r) for r in records], now)
    v.horizon.note(now, changes_at)
    later = [t for r in records for t in (_over(r), r.start + r.duration + RANDOMIZATION_LIMIT) if t > now]
    v.horizon.note(now, min(later, default=None))
    return states


async def program(v: Viewer, record: ProgramRecord) -> model.DERProgram:
    store, now = v.store, v.clock.now()
    controls = await live_controls(store, record.id, now)
    states = _live_states(v, controls, now)
    visible = _visible_controls(controls, now)
    return model.DERProgram(
        href=paths.program(record.id), subscribable=0, mRID=record.mRID, description=record.description,
        version=record.version,
        ActiveDERControlListLink=model.ListLink(href=paths.active_control_list(record.id),
                                                all=sum(states[r.id].active for r in visible)),
        DefaultDERControlLink=(model.Link(href=paths.default_control(record.id))
                               if await store.default_control(record.id) is not None else None),
        DERControlListLink=model.ListLink(href=paths.control_list(record.id), all=len(visible)),
        DERCurveListLink=model.ListLink(href=paths.curve_list(record.id), all=len(await store.curves(record.id))),
        primacy=record.primacy)


async def program_list(v: Viewer, group_id: int, start: int, limit: int) -> model.DERProgramList:
    programs = await v.store.programs_of_group(group_id)
    shown = programs[start:start + limit]
    return model.DERProgramList(href=paths.program_list(group_id), subscribable=1, all=len(programs),
                                results=len(shown), pollRate=await v.poll_rate("derp"),
                                DERProgram=[await program(v, p) for p in shown])


def control(record: ControlRecord, state) -> model.DERControl:
    der_control = codec.from_data(model.DERControl, {
        **record.data, "mRID": record.mRID, "creationTime": record.creation_time,
        "EventStatus": {"currentStatus": 0, "dateTime": 0, "potentiallySuperseded": False}})
    der_control.href = paths.control(record.program_id, record.id)
    der_control.subscribable = 0
    der_control.replyTo = paths.DER_RESPONSES
    der_control.EventStatus = model.EventStatus(
        currentStatus=int(state.status), dateTime=state.status_time,
        potentiallySuperseded=state.potentially_superseded,
        potentiallySupersededTime=state.potentially_superseded_time)
    return der_control


async def single_control(v: Viewer, record: ControlRecord) -> model.DERControl:
    """One DERControl; its state is worked out from the events of its program that can bear on it."""
    now = v.clock.now()
    events = [as_event(r) for r in await v.store.controls(record.program_id, ending_after=record.start)]
    states, changes_at = lifecycle.timeline(events, now)
    v.horizon.note(now, changes_at)
    return control(record, states[record.id])


async def control_list(v: Viewer, program_id: int, start: int, limit: int, *,
                       active_only: bool = False) -> model.DERControlList:
    now = v.clock.now()
    records = await live_controls(v.store, program_id, now)
    states = _live_states(v, records, now)
    chosen = [r for r in _visible_controls(records, now) if not active_only or states[r.id].active]
    shown = chosen[start:start + limit]
    href = paths.active_control_list(program_id) if active_only else paths.control_list(program_id)
    return model.DERControlList(href=href, subscribable=0 if active_only else 1, all=len(chosen),
                                results=len(shown), DERControl=[control(r, states[r.id]) for r in shown])


async def default_control(v: Viewer, program_id: int) -> model.DefaultDERControl | None:
    data = await v.store.default_control(program_id)
    if data is None:
        return None
    dderc = codec.from_data(model.DefaultDERControl, data)
    dderc.href, dderc.subscribable = paths.default_control(program_id), 1
    return dderc


def _curve(program_id: int, curve_id: int, data: dict) -> model.DERCurve:
    curve = codec.from_data(model.DERCurve, data)
    curve.href = paths.curve(program_id, curve_id)
    return curve


async def curve_list(v: Viewer, program_id: int, start: int, limit: int) -> model.DERCurveList:
    curves = await v.store.curves(program_id)
    shown = curves[start:start + limit]
    return model.DERCurveList(href=paths.curve_list(program_id), all=len(curves), results=len(shown),
                              DERCurve=[_curve(program_id, cid, data) for cid, data in shown])


async def curve(v: Viewer, program_id: int, curve_id: int) -> model.DERCurve | None:
    data = await v.store.curve(program_id, curve_id)
    return _curve(program_id, curve_id, data) if data is not None else None


# -- subscribable resources, by href ---------------------------------------------------

_SUBSCRIBABLE = [
    (re.compile(r"^/edev$"), "edev_list"),
    (re.compile(r"^/edev/([0-9]+)$"), "edev"),
    (re.compile(r"^/edev/([0-9]+)/fsa$"), "fsa_list"),
    (re.compile(r"^/fsa/([0-9]+)/derp$"), "program_list"),
    (re.compile(r"^/derp/([0-9]+)/derc$"), "control_list"),
    (re.compile(r"^/derp/([0-9]+)/dderc$"), "default_control"),
    (re.compile(r"^/derp/([0-9]+)/dc$"), "curve_list"),
]


def subscribable_kind(href: str) -> tuple[str, int] | None:
    for pattern, kind in _SUBSCRIBABLE:
        m = pattern.match(href)
        if m:
            return kind, int(m.group(1)) if m.groups() else 0
    return None


async def in_scope(v: Viewer, href: str) -> bool:
    """Whether the caller may see (and so subscribe to) the resource at href."""
    found = subscribable_kind(href)
    if found is None:
        return False
    kind, ident = found
    if kind == "edev_list":  # each client's own
        return True
    if kind in ("edev", "fsa_list"):
        return await v.may_see_end_device(await v.store.end_device(ident))
    if kind == "program_list":
        return await v.store.group_visible_to(v.client.lfdi, ident)
    return await v.store.program_visible_to(v.client.lfdi, ident)


# the subscribable lists whose pollRate the rates of the admin API (routes_rates) set
RATED_LISTS = {"edev": "edev_list", "fsa": "fsa_list", "derp": "program_list"}


async def subscribed_lists_rated(store, rate_resource: str) -> list[str]:
    """The hrefs someone subscribes to whose pollRate is the rate_resource's: a new rate changes them."""
    kind = RATED_LISTS.get(rate_resource)
    if kind is None:
        return []
    return [href for href in await store.subscribed_resources()
            if (found := subscribable_kind(href)) is not None and found[0] == kind]


async def render(v: Viewer, href: str, limit: int) -> model.Resource | None:
    """The subscribed resource as a notification carries it, or None if the caller can no longer see it."""
    found = subscribable_kind(href)
    if found is None or not await in_scope(v, href):
        return None
    kind, ident = found
    if kind == "edev_list":
        return await end_device_list(v, 0, limit)
    if kind in ("edev", "fsa_list"):
        record = await v.store.end_device(ident)
        if record is None:  # deleted since
            return None
        return await end_device(v, record) if kind == "edev" else await fsa_list(v, record, 0, limit)
    if kind == "program_list":
        return await program_list(v, ident, 0, limit)
    if kind == "control_list":
        return await control_list(v, ident, 0, limit)
    if kind == "curve_list":
        return await curve_list(v, ident, 0, limit)
    return await default_control(v, ident)
