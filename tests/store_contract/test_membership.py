"""Group membership as enrollment allows it, on every backend: whom a program calls (targeted_end_devices), the
refusals with every failing device, and the membership history."""

from __future__ import annotations

import pytest

from der_gateway.domain.refusals import Conflict
from der_gateway.store.base import EndDeviceRecord

from .utility_world import NOW, build, enrolled, register, run_task


async def _plain(store, n: int) -> int:
    lfdi = f"{0xE000 + n:09X}" + "B" * 31
    record = await store.create_end_device(EndDeviceRecord(id=0, lFDI=lfdi, sFDI=n, owner_lfdi=lfdi,
                                                           changedTime=NOW, pIN=111115, dateTimeRegistered=NOW))
    return record.id


async def test_a_program_with_rules_calls_only_the_devices_enrolled_in_it(store):
    world = await build(store)
    a, b = await enrolled(store, 1), await enrolled(store, 2)
    edev_a, edev_b = a.end_device.id, b.end_device.id
    plain = await _plain(store, 7)
    assert [i for i, _ in await store.targeted_end_devices(world.program)] == [edev_a, edev_b]

    group = await store.create_group(f"{2:024X}{40732:08X}", "g")
    await store.set_membership(group, [edev_a, plain], True, now=NOW + 5)
    with pytest.raises(Conflict) as refused:
        await store.set_group_program(group, world.program, True)
    assert [e["reason"] for e in refused.value.errors] == [
        f"EndDevice {plain} is not a registered DER asset; program SOAK reaches devices only through their enrollment"]
    assert world.program not in [p.id for p in await store.programs_of_group(group)]

    other = await store.create_program(f"{3:024X}{40732:08X}", "plain", 6)  # no rules: plain 2030.5
    await store.set_group_program(group, other, True)
    assert [i for i, _ in await store.targeted_end_devices(other)] == [edev_a, plain]

    await store.set_membership(group, [plain], False, now=NOW + 6, reason="tidying up")
    await store.set_group_program(group, world.program, True)
    with pytest.raises(Conflict):
        await store.set_membership(group, [plain, edev_b], True, now=NOW + 7)
    assert await store.group_members(group) == [edev_a]

    # the unenrollment takes the device out of both groups holding the program
    unenroll = await store.request_unenroll(a.enrollment.id, NOW + 8, None)
    await run_task(store, unenroll.service_task.id, NOW + 9)
    assert [i for i, _ in await store.targeted_end_devices(world.program)] == [edev_b]
    assert await store.group_members(group) == []
    history = await store.membership_history(group_id=group)
    assert [(h.end_device_id, h.kind, h.actor, h.changed_at) for h in history] == [
        (edev_a, "joined", "operator", NOW + 5), (plain, "joined", "operator", NOW + 5),
        (plain, "left", "operator", NOW + 6), (edev_a, "left", "unenrollment", NOW + 9)]
    assert history[2].reason == "tidying up"
    assert [h.actor for h in await store.membership_history(end_device_id=edev_a)] == [
        "enrollment", "operator", "unenrollment", "unenrollment"]
    assert len(await store.membership_history(end_device_id=edev_a, limit=2)) == 2


async def test_start_up_registration_keeps_a_known_aggregator(store):
    lfdi = "AB" * 20
    assert await store.add_missing_aggregator(lfdi, "from the manifest", NOW)
    await store.save_aggregator(lfdi, {"name": "Acme Energy", "status": "suspended"}, NOW, False)
    assert not await store.add_missing_aggregator(lfdi, "from the manifest", NOW + 1)
    kept = await store.utility_aggregator(lfdi)
    assert (kept.name, kept.status) == ("Acme Energy", "suspended")
    assert await store.aggregator_suspended(lfdi) and not await store.aggregator_suspended("CD" * 20)


async def test_a_move_out_cancels_the_open_enroll_task_and_unenrolls(store):
    world = await build(store)
    pending, standing = await register(store, 1), await enrolled(store, 2)
    await store.update_customer(world.customer.id, {"status": "inactive"}, NOW + 5)
    task = await store.service_task(pending.service_task.id)
    assert task.state == "Cancelled" and task.reasons == [
        {"field": "customer", "reason": "customer C1 is inactive (move-out)"}]
    assert (await store.enrollment(pending.enrollment.id)).status == "Cancelled"
    assert (await store.enrollment(standing.enrollment.id)).status == "Unenrolled"
    assert await store.targeted_end_devices(world.program) == []
    assert [(h.kind, h.actor, h.changed_at) for h in await store.membership_history(
        end_device_id=standing.end_device.id)][-1] == ("left", "move-out", NOW + 5)
