"""The utility's side: customers, accounts, service points, tariffs, the catalog, aggregators, program rules,
DER assets, enrollments and service tasks.  Refusals raise domain.refusals' Rejected subclasses and change
nothing."""

from __future__ import annotations

import json

import pytest

from der_gateway.domain.refusals import Conflict, InvalidRequest, NotPermitted
from der_gateway.domain.utility import Caller, Idempotency
from der_gateway.domain.utility.requests import InterconnectIn
from der_gateway.store.utility_records import (AssetTypeRecord, Created, ProgramRulesRecord, Replayed,
                                               TariffAcceptanceRecord, TariffRecord, UtilityAggregatorRecord)

from .conftest import lfdi_of
from .utility_world import (ADMIN, ISSUER, NOW, build, customer_values, enrolled, register, register_request,
                            run_task)

AGG = lfdi_of(0xA66)


def fields(refusal: pytest.ExceptionInfo) -> list:
    return [e.get("field") for e in refusal.value.errors]


# -- customers, accounts, service points --------------------------------------------------------

async def test_a_customer_reads_back_with_its_accounts_and_service_points(store):
    created = await store.create_customer(customer_values("C1", "SP1"))
    assert created == await store.customer(created.id)
    assert (created.external_id, created.name, created.status) == ("C1", "Customer C1", "active")
    [account] = created.detail.accounts
    assert account.external_id == "ACC-C1" and account.customer_id == created.id
    [sp] = account.service_points
    assert (sp.external_id, sp.substation, sp.feeder, sp.transformer) == ("SP1", "S1", "F1", "T1")
    assert (sp.account_id, sp.customer_id) == (account.id, created.id)
    assert await store.account(account.id) == account
    assert await store.service_point(sp.id) == sp
    assert created.detail.tariffs == () and created.detail.aggregators == ()


async def test_customers_are_listed_by_id_without_detail(store):
    a = await store.create_customer(customer_values("C2", "SP2"))
    b = await store.create_customer(customer_values("C1", "SP1"))
    listed = await store.customers()
    assert [c.id for c in listed] == [a.id, b.id]
    assert listed[0].detail is None


async def test_unknown_utility_records_are_none(store):
    for read in (store.customer, store.account, store.service_point, store.tariff, store.asset_type,
                 store.device_model, store.der_asset, store.enrollment, store.service_task, store.program_rules):
        assert await read(999) is None
    assert await store.utility_aggregator(AGG) is None


async def test_duplicate_external_ids_are_a_conflict_naming_each_field(store):
    await store.create_customer(customer_values("C1", "SP1"))
    with pytest.raises(Conflict) as refused:
        await store.create_customer(customer_values("C1", "SP1"))
    assert fields(refused) == ["externalId", "accounts[0].externalId", "accounts[0].servicePoints[0].externalId"]
    assert len(await store.customers()) == 1


async def test_update_customer_changes_only_what_is_given(store):
    created = await store.create_customer(customer_values("C1", "SP1"))
    updated = await store.update_customer(created.id, {"status": "inactive"})
    assert updated.status == "inactive" and updated.name == created.name
    assert (await store.customer(created.id)).status == "inactive"


async def test_accounts_and_service_points_are_added_updated_and_deleted(store):
    customer = await store.create_customer(customer_values("C1", "SP1"))
    account = await store.add_account(customer.id, {"externalId": "ACC2", "servicePoints": [
        {"externalId": "SP2"}]})
    assert account.customer_id == customer.id and [s.external_id for s in account.service_points] == ["SP2"]
    with pytest.raises(Conflict):
        await store.add_account(customer.id, {"externalId": "ACC2", "servicePoints": []})
    sp = await store.add_service_point(account.id, {"externalId": "SP3", "feeder": "F9"})
    assert sp.feeder == "F9" and sp.account_id == account.id
    with pytest.raises(Conflict):
        await store.add_service_point(account.id, {"externalId": "SP1"})
    assert (await store.update_service_point(sp.id, {"transformer": "T9"})).transformer == "T9"
    assert (await store.update_account(account.id, {"status": "closed"})).status == "closed"
    await store.delete_service_point(sp.id)
    assert await store.service_point(sp.id) is None
    assert [a.external_id for a in (await store.customer(customer.id)).detail.accounts] == ["ACC-C1", "ACC2"]


async def test_a_customer_without_assets_is_deleted_with_its_accounts(store):
    customer = await store.create_customer(customer_values("C1", "SP1"))
    account = customer.detail.accounts[0]
    await store.delete_customer(customer.id)
    assert await store.customer(customer.id) is None
    assert await store.account(account.id) is None
    assert await store.service_point(account.service_points[0].id) is None


async def test_a_customer_or_service_point_with_assets_stays(store):
    world = await build(store)
    await register(store, 1)
    with pytest.raises(Conflict):
        await store.delete_customer(world.customer.id)
    with pytest.raises(Conflict):
        await store.delete_service_point(world.service_point)
    assert await store.customer(world.customer.id) is not None
    assert await store.service_point(world.service_point) is not None


# -- tariffs -------------------------------------------------------------------------------------

async def test_tariffs_created_updated_listed_and_accepted(store):
    customer = await store.create_customer(customer_values("C1", "SP1"))
    t = await store.create_tariff({"code": "TOU", "description": "time of use", "terms": {"peak": 0.4}})
    assert t == TariffRecord(t.id, "TOU", "time of use", {"peak": 0.4})
    with pytest.raises(Conflict):
        await store.create_tariff({"code": "TOU"})
    assert (await store.update_tariff(t.id, {"terms": {"peak": 0.5}})).terms == {"peak": 0.5}
    assert await store.tariffs() == [await store.tariff(t.id)]
    await store.set_tariff_acceptance(customer.id, t.id, True, 123)
    assert (await store.customer(customer.id)).detail.tariffs == (TariffAcceptanceRecord(t.id, "TOU", 123),)
    await store.set_tariff_acceptance(customer.id, t.id, False, 124)
    assert (await store.customer(customer.id)).detail.tariffs == ()


async def test_a_tariff_a_program_requires_cannot_be_deleted(store):
    program = await store.create_program("B" * 32, "p", 1)
    t = await store.create_tariff({"code": "TOU"})
    await store.set_program_rules(program, {"eligibility": {"tariffId": t.id}, "constraints": {}}, NOW)
    with pytest.raises(Conflict):
        await store.delete_tariff(t.id)
    await store.clear_program_rules(program, NOW)
    await store.delete_tariff(t.id)
    assert await store.tariff(t.id) is None


# -- the catalog -------------------------------------------------------------------------------------

async def test_asset_types_and_device_models(store):
    world = await build(store)
    assert world.asset_type == AssetTypeRecord(world.asset_type.id, "PV", "solar", 4, False, world.program)
    assert await store.asset_types() == [world.asset_type]
    other = await store.create_device_model({"assetTypeId": world.asset_type.id, "manufacturer": "Zed",
                                             "model": "A", "spec": {}})
    first = await store.create_device_model({"assetTypeId": world.asset_type.id, "manufacturer": "Acme",
                                             "model": "Moon 1", "spec": {}})
    assert [m.id for m in await store.device_models()] == [first.id, world.model.id, other.id]
    assert [m.model for m in await store.device_models("Acme")] == ["Moon 1", "Sun 5"]
    assert (await store.update_device_model(other.id, {"spec": {"rtgMaxW": {"max": 1}}})).spec == {
        "rtgMaxW": {"max": 1}}
    updated = await store.update_asset_type(world.asset_type.id, {"requiresInterconnection": True})
    assert updated.requires_interconnection is True


async def test_catalog_refusals(store):
    world = await build(store)
    with pytest.raises(InvalidRequest) as refused:
        await store.create_asset_type({"code": "X", "derType": 4, "defaultProgramId": 999})
    assert fields(refused) == ["defaultProgramId"]
    with pytest.raises(Conflict):
        await store.create_asset_type({"code": "PV", "derType": 4})
    with pytest.raises(InvalidRequest):
        await store.create_device_model({"assetTypeId": 999, "manufacturer": "A", "model": "B", "spec": {}})
    with pytest.raises(Conflict):
        await store.create_device_model({"assetTypeId": world.asset_type.id, "manufacturer": "Acme",
                                         "model": "Sun 5", "spec": {}})
    with pytest.raises(InvalidRequest):
        await store.update_device_model(world.model.id, {"assetTypeId": 999})
    with pytest.raises(Conflict):
        await store.delete_asset_type(world.asset_type.id)  # a model is of this type
    assert len(await store.asset_types()) == 1 and len(await store.device_models()) == 1


async def test_a_model_in_use_stays_and_an_unused_one_goes(store):
    world = await build(store)
    await register(store, 1)
    with pytest.raises(Conflict):
        await store.delete_device_model(world.model.id)
    spare = await store.create_device_model({"assetTypeId": world.asset_type.id, "manufacturer": "Acme",
                                             "model": "Spare", "spec": {}})
    await store.delete_device_model(spare.id)
    assert await store.device_model(spare.id) is None


# -- aggregators ------------------------------------------------------------------------------------

async def test_save_aggregator_creates_then_changes(store):
    customer = await store.create_customer(customer_values("C1", "SP1"))
    saved = await store.save_aggregator(AGG, {"name": "Acme VPP", "customers": ["C1"]}, NOW, True)
    assert saved == UtilityAggregatorRecord(AGG, "Acme VPP", "active", NOW, (customer.id,))
    assert await store.is_aggregator(AGG)
    with pytest.raises(Conflict):
        await store.save_aggregator(AGG, {"name": "again"}, NOW, True)
    changed = await store.save_aggregator(AGG, {"status": "suspended", "customers": []}, NOW + 1, False)
    assert changed.status == "suspended" and changed.customers == () and changed.name == "Acme VPP"
    assert await store.utility_aggregators() == [changed]


async def test_save_aggregator_with_an_unknown_customer_changes_nothing(store):
    with pytest.raises(InvalidRequest) as refused:
        await store.save_aggregator(AGG, {"name": "x", "customers": ["NOPE"]}, NOW, True)
    assert fields(refused) == ["customers[0]"]
    assert await store.utility_aggregator(AGG) is None


async def test_aggregator_customer_authorisation_says_whether_it_changed(store):
    customer = await store.create_customer(customer_values("C1", "SP1"))
    await store.save_aggregator(AGG, {"name": "x"}, NOW, True)
    assert await store.set_aggregator_customer(AGG, customer.id, True, NOW) is True
    assert await store.set_aggregator_customer(AGG, customer.id, True, NOW) is False
    assert (await store.customer(customer.id)).detail.aggregators == (AGG,)
    assert await store.set_aggregator_customer(AGG, customer.id, False, NOW) is True
    assert (await store.utility_aggregator(AGG)).customers == ()


# -- program rules -----------------------------------------------------------------------------------

async def test_program_rules_set_read_and_cleared(store):
    program = await store.create_program("C" * 32, "p", 1)
    rules = {"code": "P1", "eligibility": {"derTypes": [4, 80]}, "constraints": {"maxDurationSeconds": 3600}}
    saved = await store.set_program_rules(program, rules, NOW)
    assert saved == ProgramRulesRecord(program, "P1", None, {"derTypes": [4, 80]}, {"maxDurationSeconds": 3600})
    assert await store.program_rules(program) == saved
    assert (await store.event_constraints(program))[0] == {"maxDurationSeconds": 3600}
    await store.clear_program_rules(program, NOW)
    assert await store.program_rules(program) == ProgramRulesRecord(program, None, None, {}, {})


async def test_program_rules_refusals(store):
    a = await store.create_program("C" * 32, "a", 1)
    b = await store.create_program("D" * 32, "b", 1)
    await store.set_program_rules(a, {"code": "SAME", "eligibility": {}, "constraints": {}}, NOW)
    with pytest.raises(Conflict):
        await store.set_program_rules(b, {"code": "SAME", "eligibility": {}, "constraints": {}}, NOW)
    with pytest.raises(InvalidRequest) as refused:
        await store.set_program_rules(b, {"eligibility": {"tariffId": 77}, "constraints": {}}, NOW)
    assert fields(refused) == ["eligibility.tariffId"]
    assert await store.program_rules(b) is None


# -- registerDERDevice ---------------------------------------------------------------------------------

async def test_register_creates_asset_disabled_end_device_enrollment_and_task(store):
    world = await build(store)
    body = await register(store, 1)
    asset, edev, enrollment, task = body.der_asset, body.end_device, body.enrollment, body.service_task
    assert asset is not None and edev is not None and enrollment is not None
    assert await store.der_asset(asset.id) == asset
    assert (asset.status, asset.customer_id, asset.service_point_id, asset.device_model_id) == (
        "active", world.customer.id, world.service_point, world.model.id)
    assert (asset.end_device_id, asset.enrollments) == (edev.id, (enrollment.id,))
    record = await store.end_device(edev.id)
    assert record.enabled is False and record.lFDI == edev.lfdi and record.owner_lfdi == edev.lfdi
    assert (edev.owner, edev.enabled, edev.sfdi) == (edev.lfdi, False, record.sFDI)
    assert await store.der_document(edev.id, 1, "dercap") == register_request(1).device.nameplate
    assert await store.der_document(edev.id, 1, "derg") == register_request(1).device.settings
    assert (enrollment.status, enrollment.program_id) == ("Pending", world.program)
    assert await store.enrollment(enrollment.id) == enrollment
    assert (task.kind, task.state, task.enrollment_id) == ("enroll", "Pending", enrollment.id)
    assert await store.service_task(task.id) == task
    assert await store.due_service_tasks(NOW) == [task.id]


async def test_register_refusals_name_every_problem_and_leave_nothing(store):
    await build(store)
    await register(store, 1)
    with pytest.raises(InvalidRequest) as refused:
        await store.register_der_device(register_request(1, customer="NOPE", service_point="NOPE"), ADMIN, NOW,
                                        None, ISSUER)
    assert {"customer", "servicePoint", "device.lFDI", "device.serialNumber"} <= set(fields(refused))
    with pytest.raises(InvalidRequest) as refused:
        await store.register_der_device(register_request(2, model="Nope"), ADMIN, NOW, None, ISSUER)
    assert "device.model" in fields(refused)
    with pytest.raises(InvalidRequest) as refused:
        small = {**register_request(2).device.nameplate, "rtgMaxW": {"value": 10, "multiplier": 0}}
        await store.register_der_device(register_request(2, nameplate=small), ADMIN, NOW, None, ISSUER)
    assert "device.nameplate.rtgMaxW" in fields(refused)
    assert len(await store.der_assets()) == 1 and len(await store.all_end_devices()) == 1
    assert len(await store.service_tasks()) == 1


async def test_an_ineligible_device_is_refused(store):
    world = await build(store)
    await store.set_program_rules(world.program, {"eligibility": {"feeders": ["F2"]}, "constraints": {}}, NOW)
    with pytest.raises(InvalidRequest) as refused:
        await store.register_der_device(register_request(1), ADMIN, NOW, None, ISSUER)
    assert fields(refused) == ["servicePoint"]


async def test_a_certified_aggregator_unauthorised_for_the_customer_is_not_permitted(store):
    await build(store)
    await store.save_aggregator(AGG, {"name": "x"}, NOW, True)
    caller = Caller(AGG, aggregator=AGG, certified=True)
    with pytest.raises(NotPermitted):
        await store.register_der_device(register_request(1), caller, NOW, None, ISSUER)
    with pytest.raises(NotPermitted):  # an unknown customer looks the same
        await store.register_der_device(register_request(1, customer="NOPE"), caller, NOW, None, ISSUER)
    assert await store.der_assets() == []


async def test_an_authorised_aggregator_owns_the_end_device_it_registers(store):
    world = await build(store)
    await store.save_aggregator(AGG, {"name": "x", "customers": [world.customer.id]}, NOW, True)
    body = await store.register_der_device(register_request(1), Caller(AGG, aggregator=AGG, certified=True),
                                           NOW, None, ISSUER)
    assert isinstance(body, Created) and body.end_device.owner == AGG
    assert (await store.end_device(body.end_device.id)).owner_lfdi == AGG


def keep(created: Created) -> str:
    """The caller's side serializes its answer; the store keeps the text as it is."""
    return json.dumps({"task": created.service_task.id, "asset": created.der_asset.id})


async def test_an_idempotency_key_answers_as_the_first_time(store):
    await build(store)
    idem = Idempotency("key-1", "admin", "registerDERDevice", "digest-a")
    first = await store.register_der_device(register_request(1), ADMIN, NOW, idem, ISSUER, keep=keep)
    assert isinstance(first, Created) and first.outcome == "created"
    again = await store.register_der_device(register_request(1), ADMIN, NOW + 5, idem, ISSUER, keep=keep)
    assert again == Replayed("created", keep(first)) and len(await store.der_assets()) == 1
    assert await store.idempotent_answer(idem) == again
    with pytest.raises(Conflict) as refused:
        await store.register_der_device(register_request(2), ADMIN, NOW, Idempotency(
            "key-1", "admin", "registerDERDevice", "digest-b"), ISSUER, keep=keep)
    assert fields(refused) == ["Idempotency-Key"]
    with pytest.raises(Conflict):
        await store.idempotent_answer(Idempotency("key-1", "admin", "registerDERDevice", "digest-b"))
    assert await store.idempotent_answer(Idempotency("key-1", "other", "registerDERDevice", "digest-a")) is None


async def test_a_refused_request_keeps_no_answer_under_its_key(store):
    await build(store)
    idem = Idempotency("k", "admin", "registerDERDevice", "d")
    with pytest.raises(InvalidRequest):
        await store.register_der_device(register_request(1, customer="NOPE"), ADMIN, NOW, idem, ISSUER, keep=keep)
    assert await store.idempotent_answer(idem) is None


# -- service tasks --------------------------------------------------------------------------------------

async def test_an_enroll_task_enables_the_end_device_and_puts_it_in_the_program_group(store):
    world = await build(store)
    body = await register(store, 1)
    task_id, edev = body.service_task.id, body.end_device.id
    claimed = await store.claim_service_task(task_id, NOW + 1)
    assert claimed.state == "Processing" and claimed.updated == NOW + 1
    done = await store.finish_service_task(task_id, NOW + 2, ISSUER)
    assert done.state == "Completed" and done.reasons == []
    assert (await store.enrollment(body.enrollment.id)).status == "Enrolled"
    record = await store.end_device(edev)
    assert record.enabled is True and record.changedTime == NOW + 2
    group = (await store.program_rules(world.program)).group_id
    assert group in [g.id for g in await store.groups_of(edev)]
    assert world.program in [p.id for p in await store.programs_of_group(group)]
    assert await store.targeted_end_devices(world.program) == [(edev, body.end_device.lfdi)]
    assert await store.due_service_tasks(NOW + 10) == []


async def test_task_state_refusals(store):
    await build(store)
    body = await register(store, 1)
    task_id = body.service_task.id
    with pytest.raises(Conflict):
        await store.finish_service_task(task_id, NOW, ISSUER)  # not Processing
    with pytest.raises(Conflict):
        await store.decide_interconnection(task_id, True, None, NOW)  # not an interconnect task
    await store.claim_service_task(task_id, NOW)
    with pytest.raises(Conflict):
        await store.claim_service_task(task_id, NOW + 1)  # taken
    with pytest.raises(Conflict):
        await store.cancel_service_task(task_id, NOW + 1)  # no longer Pending
    assert (await store.service_task(task_id)).state == "Processing"


async def test_an_abandoned_task_is_due_and_claimed_again_once_stale(store):
    await build(store)
    task_id = (await register(store, 1)).service_task.id
    await store.claim_service_task(task_id, NOW)
    assert await store.due_service_tasks(NOW + 299) == []
    assert await store.due_service_tasks(NOW + 300) == [task_id]
    assert (await store.claim_service_task(task_id, NOW + 300)).state == "Processing"


async def test_cancel_a_pending_enroll_task_cancels_its_enrollment(store):
    await build(store)
    body = await register(store, 1)
    cancelled = await store.cancel_service_task(body.service_task.id, NOW + 1)
    assert cancelled.state == "Cancelled"
    assert (await store.enrollment(body.enrollment.id)).status == "Cancelled"
    assert (await store.end_device(body.end_device.id)).enabled is False


async def test_a_failing_enroll_task_ends_in_error_with_reasons_and_changes_nothing_else(store):
    world = await build(store)
    body = await register(store, 1)
    # (deactivating the customer would cancel the task: a move-out; see test_membership.py)
    await store.set_program_rules(world.program, {"code": "SOAK", "eligibility": {"derTypes": [80]},
                                                  "constraints": {}}, NOW)
    task = await run_task(store, body.service_task.id)
    assert task.state == "Error" and [r["field"] for r in task.reasons] == ["program"]
    assert (await store.enrollment(body.enrollment.id)).status == "Error"
    assert (await store.end_device(body.end_device.id)).enabled is False
    assert await store.groups_of(body.end_device.id) == []


async def test_unenroll_disables_the_end_device_and_leaves_the_group(store):
    await build(store)
    body = await enrolled(store, 1)
    enrollment, edev = body.enrollment.id, body.end_device.id
    answer = await store.request_unenroll(enrollment, NOW + 10, None)
    assert isinstance(answer, Created) and answer.service_task.kind == "unenroll"
    assert (answer.der_asset, answer.end_device, answer.enrollment) == (None, None, None)
    with pytest.raises(Conflict):
        await store.request_unenroll(enrollment, NOW + 10, None)  # a task is open for it already
    done = await run_task(store, answer.service_task.id, NOW + 20)
    assert done.state == "Completed"
    assert (await store.enrollment(enrollment)).status == "Unenrolled"
    assert (await store.end_device(edev)).enabled is False and await store.groups_of(edev) == []
    with pytest.raises(Conflict):
        await store.request_unenroll(enrollment, NOW + 30, None)  # not Enrolled


async def test_enroll_in_a_further_program_and_not_twice(store):
    world = await build(store)
    body = await enrolled(store, 1)
    asset = body.der_asset.id
    other = await store.create_program("E" * 32, "other", 2)
    answer = await store.enroll_der_asset(asset, other, NOW + 5, None)
    assert isinstance(answer, Created) and answer.enrollment.status == "Pending"
    assert answer.service_task.enrollment_id == answer.enrollment.id
    with pytest.raises(Conflict):
        await store.enroll_der_asset(asset, other, NOW + 5, None)
    with pytest.raises(Conflict):
        await store.enroll_der_asset(asset, world.program, NOW + 5, None)
    with pytest.raises(InvalidRequest):
        await store.enroll_der_asset(asset, 999, NOW + 5, None)
    assert [e.program_id for e in await store.enrollments(der_asset_id=asset)] == [world.program, other]
    assert [e.program_id for e in await store.enrollments(status="Pending")] == [other]
    assert list((await store.der_asset(asset)).enrollments) == [e.id for e in await store.enrollments()]


async def test_interconnection_waits_for_engineering(store):
    world = await build(store)
    req = InterconnectIn("C1", "SP1", "Acme", "Sun 5", "SN9", None, {"exportLimitW": 5000}, None)
    body = await store.interconnect_der(req, ADMIN, NOW, None)
    assert isinstance(body, Created)
    task_id = body.service_task.id
    assert body.service_task.state == "Pending"
    assert await store.due_service_tasks(NOW) == []
    with pytest.raises(Conflict):
        await store.claim_service_task(task_id, NOW)
    with pytest.raises(InvalidRequest):  # a second one for the same device while the first is open
        await store.interconnect_der(req, ADMIN, NOW, None)
    decided = await store.decide_interconnection(task_id, True, "ok", NOW + 1)
    assert decided.approval == {"decision": "approved", "reason": "ok", "at": NOW + 1}
    with pytest.raises(Conflict):
        await store.decide_interconnection(task_id, False, "no", NOW + 2)
    assert await store.due_service_tasks(NOW + 2) == [task_id]
    assert (await run_task(store, task_id, NOW + 3)).state == "Completed"
    assert [t.id for t in await store.service_tasks(kind="interconnect", state="Completed")] == [task_id]
    assert world.model.id == body.service_task.payload["deviceModelId"]


async def test_a_rejected_interconnection_ends_in_error(store):
    await build(store)
    req = InterconnectIn("C1", "SP1", "Acme", "Sun 5", "SN9", None, {"exportLimitW": 5000}, None)
    task_id = (await store.interconnect_der(req, ADMIN, NOW, None)).service_task.id
    rejected = await store.decide_interconnection(task_id, False, "feeder full", NOW + 1)
    assert rejected.state == "Error" and "feeder full" in rejected.reasons[0]["reason"]
    assert await store.due_service_tasks(NOW + 1) == []


async def test_der_assets_filtered_by_status(store):
    await build(store)
    a = (await register(store, 1)).der_asset.id
    b = (await register(store, 2)).der_asset.id
    assert [x.id for x in await store.der_assets()] == [a, b]
    assert [x.id for x in await store.der_assets("active")] == [a, b]
    assert await store.der_assets("retired") == []


async def test_a_replacement_moves_the_enrollments_to_the_new_device(store):
    from der_gateway.domain.utility.requests import DeviceIn, ReplaceIn
    from der_gateway.sep.identity import sfdi_from_lfdi
    world = await build(store)
    body = await enrolled(store, 1)
    old_asset, old_edev = body.der_asset.id, body.end_device.id
    lfdi = "E" * 40
    req = ReplaceIn(DeviceIn(lfdi, sfdi_from_lfdi(lfdi), "", "", "SN-NEW", None, None, None))
    answer = await store.request_replace(old_asset, req, NOW + 10, None)
    assert isinstance(answer, Created) and answer.service_task.kind == "replace"
    with pytest.raises(Conflict):  # one open task per asset
        await store.request_replace(old_asset, req, NOW + 10, None)
    done = await run_task(store, answer.service_task.id, NOW + 20)
    assert done.state == "Completed"
    new_asset, new_edev = done.payload["newDerAssetId"], done.payload["newEndDeviceId"]
    old = await store.der_asset(old_asset)
    new = await store.der_asset(new_asset)
    assert (old.status, old.replaced_by) == ("retired", new_asset)
    assert (new.status, new.replaces, new.lfdi, new.end_device_id) == ("active", old_asset, lfdi, new_edev)
    assert new.enrollments == (body.enrollment.id,) and old.enrollments == ()
    assert (await store.end_device(old_edev)).enabled is False and await store.groups_of(old_edev) == []
    assert (await store.end_device(new_edev)).enabled is True
    assert await store.targeted_end_devices(world.program) == [(new_edev, lfdi)]
    assert await store.der_document(new_edev, 1, "dercap") == body.der_asset.nameplate
    with pytest.raises(Conflict):  # the old asset is retired
        await store.request_replace(old_asset, req, NOW + 30, None)
