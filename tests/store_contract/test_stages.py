"""Utility events, stages and the participation record in the store: written with the stage's DERControl,
reported and settled once however many passes race, and never deleted."""

from __future__ import annotations

import asyncio

import pytest

from der_gateway.domain.refusals import Conflict
from der_gateway.store.stage_records import NewControl, NewStage, Transition


def mrid(n: int) -> str:
    return f"{n:032X}"


async def _world(store):
    pid = await store.create_program(mrid(1), "p", 1)
    await store.create_sync_endpoint("dacs", "http://127.0.0.1:9/a")
    await store.create_sync_endpoint("ouai", "http://127.0.0.1:9/b")
    called = ((7, "AA" * 20), (9, "bb" * 20))
    event_id = await store.add_utility_event(mrid(2).lower(), "peak", 1000, [
        NewStage(NewControl(pid, mrid(3), 1000, 2000, 600, {"n": 3}, 0, 1000), 5000, called,
                 {"status": "SCHEDULED"})], (), ())
    (stage,) = (await store.utility_event(event_id)).stages
    return pid, event_id, stage.control_id


async def test_an_event_is_written_whole_or_not_at_all(store):
    pid = await store.create_program(mrid(1), "p", 1)
    await store.create_sync_endpoint("dacs", "http://127.0.0.1:9/a")
    taken = await store.add_control(pid, mrid(5), 1000, 5000, 600, {}, 0, 1000)
    stages = [NewStage(NewControl(pid, mrid(n), 1000, 2000 + n * 1000, 600, {}, 0, 1000), None, ((7, "AA" * 20),),
                       {}) for n in (3, 5)]  # the second's mRID is taken
    with pytest.raises(Conflict):
        await store.add_utility_event(mrid(2), None, 1000, stages, (), ())
    assert await store.utility_events(archived=True) == []
    assert [c.id for c in await store.controls(pid)] == [taken]
    assert await store.sync_messages() == (0, [])


async def test_a_stage_is_written_with_its_control_who_it_calls_and_its_first_report(store):
    pid, event_id, cid = await _world(store)
    event = await store.utility_event(event_id)
    assert (event.mrid, event.description, event.created) == (mrid(2), "peak", 1000)
    assert await store.utility_event_by_mrid(mrid(2).lower()) == event
    (stage,) = event.stages
    assert (stage.position, stage.control_id, stage.program_id, stage.target_w, stage.reported) == (
        1, cid, pid, 5000, "SCHEDULED")
    assert await store.stage_of_control(cid) == stage and await store.stage(stage.id) == stage
    record = await store.participation(cid)
    assert [(p.end_device_id, p.lfdi, p.called_at, p.control_mrid, p.outcome) for p in record] == [
        (7, "AA" * 20, 1000, mrid(3), None), (9, "BB" * 20, 1000, mrid(3), None)]
    (transition,) = await store.stage_transitions(stage.id)
    assert (transition.status, transition.at, [s for _, s in transition.sync_states]) == (
        "SCHEDULED", 1000, ["queued", "queued"])
    total, messages = await store.sync_messages(kind="stage-status")
    assert total == 2 and all(m.body == {"kind": "stage-status", "status": "SCHEDULED", "eventId": event_id,
                                         "stageId": stage.id} for m in messages)


async def test_racing_passes_report_each_transition_once(store):
    _, event_id, _ = await _world(store)
    (stage,) = (await store.utility_event(event_id)).stages
    steps = [Transition("IN PROGRESS", 2000, {"status": "IN PROGRESS"}),
             Transition("COMPLETED", 2600, {"status": "COMPLETED"})]
    results = await asyncio.gather(*(store.record_stage_transitions(stage.id, "SCHEDULED", steps, 2700)
                                     for _ in range(4)))
    assert sorted(results) == [False, False, False, True]
    assert [t.status for t in await store.stage_transitions(stage.id)] == ["SCHEDULED", "IN PROGRESS", "COMPLETED"]
    assert (await store.stage(stage.id)).reported == "COMPLETED"
    assert not await store.record_stage_transitions(stage.id, "SCHEDULED", steps, 2800)  # stale: nothing
    assert (await store.sync_messages(kind="stage-status"))[0] == 6

    outcomes = [(7, "participated", [(2, 2001, 2002)]), (9, "no response", [])]
    settled = await asyncio.gather(*(store.settle_stage(stage.id, outcomes, {"devices": 2}, 2700) for _ in range(3)))
    assert sorted(settled) == [False, False, True]
    record = await store.participation(stage.control_id)
    assert [(p.outcome, p.responses) for p in record] == [("participated", ((2, 2001, 2002),)), ("no response", ())]
    assert (await store.sync_messages(kind="stage-outcomes"))[0] == 2
    assert [s.id for s in await store.unfinished_stages()] == [stage.id]
    await store.stage_exported(stage.id, 2800)
    assert await store.unfinished_stages() == []


async def test_a_recorded_or_archived_event_is_never_deleted(store):
    pid, event_id, cid = await _world(store)
    plain = await store.add_control(pid, mrid(4), 1000, 5000, 600, {}, 0, 1000)
    assert await store.recorded_controls(pid) == [cid]
    for attempt in (store.clear_controls(pid), store.delete_program(pid)):
        with pytest.raises(Conflict):
            await attempt
    assert await store.control(cid) is not None and await store.control(plain) is not None
    await store.archive_controls([plain], 3000)
    await store.archive_controls([plain, cid], 3100, event_id)  # again: the first archiving stands
    assert await store.archived_controls(pid) == {cid: 3100, plain: 3000}
    assert (await store.control_archived_at(cid), await store.control_archived_at(999)) == (3100, None)
    assert await store.recorded_controls(pid) == [cid, plain]
    assert (await store.utility_event(event_id)).archived_at == 3100
    assert await store.utility_events() == [] and len(await store.utility_events(archived=True)) == 1
    await store.cancel_utility_event(event_id, 3200)
    assert (await store.utility_event(event_id)).cancelled_at == 3200
