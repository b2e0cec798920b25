"""Unbilled settlement credits to billing, on the real server: batched per account, sent through the sync outbox
to billing endpoints only, billed once acknowledged and never sent twice, returned to unbilled with the reason
when refused; sent at once on an unenrollment; on each backend."""

from __future__ import annotations

from decimal import Decimal as D

from der_gateway.server.enrollment_sync import SyncDelivery
from der_gateway.services.billing import BillingDuty
from der_gateway.store.billing_records import CreditRecord

from .test_enrollment import T0, open_site, registration
from .test_enrollment_sync import Receiver
from .test_participation_api import three_devices


def credit(stage_id: int, edev: int, lfdi: str, customer: int, account: int, sp: int, total: str,
           currency: str = "USD") -> CreditRecord:
    amount = D(total)
    return CreditRecord(stage_id, edev, lfdi, customer, account, sp, currency, D("3.000"), D("1.000"), D("2.000"),
                        D("2.000"), amount, D("0.00"), D("0.00"), D("0.00"), amount, "complete", T0 + 7200)


async def deliver(site) -> None:
    delivery = SyncDelivery(site.store, site.harness.config, site.harness.clock,
                            ack_base_url=site.harness.server.admin_url)
    try:
        await delivery.deliver_due()
    finally:
        await delivery.stop()


async def test_unbilled_credits_reach_billing_once_and_a_refusal_returns_them(make_harness, identities):
    site = await open_site(make_harness, identities)
    billing, operations = await Receiver().start(), await Receiver().start()
    try:
        ids = await three_devices(site)
        customer = await site.admin.ok("GET", f"/customers/{site.ids['customer']}")
        account = customer["accounts"][0]["id"]
        event = await site.admin.ok("POST", "/utility-events", {"stages": [{
            "programId": site.ids["program"], "interval": {"start": T0 + 7200, "duration": 600},
            "DERControlBase": {"opModFixedW": 5000}}]}, 201)
        stage = event["stages"][0]["id"]
        lfdi = {n: site.lfdi(n).upper() for n in ("device1", "device2")}
        assert await site.store.record_credits([
            credit(stage, ids["device1"], lfdi["device1"], site.ids["customer"], account, site.ids["sp"], "1.25"),
            credit(stage, ids["device2"], lfdi["device2"], site.ids["customer"], account, site.ids["sp"], "0.50")]) == 2
        # settled again (late data, say) while unbilled: the new credit replaces the old
        assert await site.store.record_credits([credit(stage, ids["device1"], lfdi["device1"], site.ids["customer"],
                                                       account, site.ids["sp"], "1.25")]) == 1

        # no billing endpoint yet: nothing is sent, the credits wait
        assert await site.admin.ok("POST", "/billing/run", {}) == {"batches": []}
        await site.admin.ok("POST", "/sync/endpoints", {"name": "cis", "url": billing.url("/bills"),
                                                        "purpose": "billing"}, 201)
        await site.admin.ok("POST", "/sync/endpoints", {"name": "derms", "url": operations.url("/ops")}, 201)
        credits = await site.admin.ok("GET", f"/accounts/{account}/credits")
        assert credits["unbilled"] == {"USD": "1.75"} and credits["pending"] == {}

        (batch,) = (await site.admin.ok("POST", "/billing/run", {"accountIds": [account]}))["batches"]
        assert (batch["amount"], batch["currency"], batch["state"], batch["credits"], batch["trigger"]) == (
            "1.75", "USD", "pending", 2, "operator")
        # on its way: a second run sends nothing more, and settling again does not change what was sent
        assert await site.admin.ok("POST", "/billing/run", {}) == {"batches": []}
        assert await site.store.record_credits([credit(stage, ids["device1"], lfdi["device1"], site.ids["customer"],
                                                       account, site.ids["sp"], "9.99")]) == 0
        assert (await site.admin.ok("GET", f"/accounts/{account}/credits"))["pending"] == {"USD": "1.75"}
        await deliver(site)
        assert operations.accepted == []  # billing's messages go to billing endpoints only
        ((path, sent),) = billing.accepted
        assert path == "/bills" and sent["kind"] == "unbilled-credits" and sent["amount"] == "1.75"
        assert (sent["account"], sent["customer"], sent["batchId"]) == ("A-1", "C-1", batch["id"])
        assert sorted((c["endDeviceLFDI"], c["amount"]) for c in sent["credits"]) == sorted(
            [(lfdi["device1"], "1.25"), (lfdi["device2"], "0.50")])

        # billing refuses: the batch is rejected, its credits unbilled again with the reason, and sent again
        message = sent["acknowledgeUrl"].rsplit("/messages/", 1)[1].split("/")[0]
        await site.admin.ok("POST", f"/sync/messages/{message}/ack", {"ok": False, "reason": "account closed"})
        assert (await site.admin.ok("GET", f"/billing/batches/{batch['id']}"))["state"] == "rejected"
        refused = await site.admin.ok("GET", f"/accounts/{account}/credits?unbilled=true")
        assert {c["billingReason"] for c in refused["items"]} == {"account closed"} and refused["pending"] == {}
        (again,) = (await site.admin.ok("POST", "/billing/run", {}))["batches"]
        assert again["amount"] == "1.75" and again["id"] != batch["id"]
        await deliver(site)
        resent = billing.accepted[-1][1]
        message = resent["acknowledgeUrl"].rsplit("/messages/", 1)[1].split("/")[0]
        await site.admin.ok("POST", f"/sync/messages/{message}/ack", {"ok": True})
        await site.admin.ok("POST", f"/sync/messages/{message}/ack", {"ok": True})  # a repeat changes nothing
        assert (await site.admin.ok("GET", f"/billing/batches/{again['id']}"))["state"] == "billed"
        billed = await site.admin.ok("GET", f"/accounts/{account}/credits")
        assert billed["unbilled"] == {} and {c["billedAt"] for c in billed["items"]} == {T0 + 3600}
        assert {c["billingBatchId"] for c in billed["items"]} == {again["id"]}
        # billed: never sent again
        assert await site.admin.ok("POST", "/billing/run", {}) == {"batches": []}
        assert len(billing.accepted) == 2
        listed = await site.admin.ok("GET", "/billing/batches?state=billed")
        assert [b["id"] for b in listed["items"]] == [again["id"]]

        # bad input changes nothing
        before = site.harness.snapshot()
        for body in ({"accountIds": "all"}, {"accountIds": [0]}, {"accountIds": [999]}, {"x": 1}):
            assert (await site.admin.call("POST", "/billing/run", body)).status == 400, body
        for query in ("?state=sent", "?accountId=x", "?y=1"):
            assert (await site.admin.call("GET", f"/billing/batches{query}")).status == 400, query
        assert (await site.admin.call("GET", f"/accounts/{account}/credits?unbilled=maybe")).status == 400
        assert (await site.admin.call("GET", "/accounts/999/credits")).status == 404
        assert site.harness.snapshot() == before
    finally:
        await billing.stop()
        await operations.stop()
        await site.harness.stop()


async def test_an_unenrollment_sends_the_accounts_unbilled_credits_at_once(make_harness, identities):
    site = await open_site(make_harness, identities)
    billing = await Receiver().start()
    try:
        ids = await three_devices(site)
        account = (await site.admin.ok("GET", f"/customers/{site.ids['customer']}"))["accounts"][0]["id"]
        await site.admin.ok("POST", "/sync/endpoints", {"name": "cis", "url": billing.url(), "purpose": "billing"},
                            201)
        event = await site.admin.ok("POST", "/utility-events", {"stages": [{
            "programId": site.ids["program"], "interval": {"start": T0 + 7200, "duration": 600},
            "DERControlBase": {"opModFixedW": 5000}}]}, 201)
        await site.store.record_credits([credit(event["stages"][0]["id"], ids["device1"],
                                                site.lfdi("device1").upper(), site.ids["customer"], account,
                                                site.ids["sp"], "4.20")])
        enrollments = (await site.admin.ok("GET", f"/enrollments?programId={site.ids['program']}"))["items"]
        device1 = None
        for e in enrollments:
            asset = await site.admin.ok("GET", f"/der-assets/{e['derAssetId']}")
            if e["status"] == "Enrolled" and asset["endDeviceId"] == ids["device1"]:
                device1 = e["id"]
        task = await site.admin.ok("POST", f"/enrollments/{device1}/unenroll", status=201)
        await site.process(task["serviceTask"]["id"])
        (batch,) = (await site.admin.ok("GET", f"/billing/batches?accountId={account}"))["items"]
        assert (batch["trigger"], batch["amount"], batch["state"]) == ("unenrollment", "4.20", "pending")
        await deliver(site)
        assert [p["amount"] for _, p in billing.accepted] == ["4.20"]
    finally:
        await billing.stop()
        await site.harness.stop()


async def test_a_move_out_sends_them_at_once_and_the_leader_sends_the_rest_periodically(make_harness, identities):
    site = await open_site(make_harness, identities)
    try:
        ids = await three_devices(site)
        account = (await site.admin.ok("GET", f"/customers/{site.ids['customer']}"))["accounts"][0]["id"]
        await site.admin.ok("POST", "/sync/endpoints", {"name": "cis", "url": "http://127.0.0.1:9/bills",
                                                        "purpose": "billing"}, 201)
        event = await site.admin.ok("POST", "/utility-events", {"stages": [{
            "programId": site.ids["program"], "interval": {"start": T0 + 7200, "duration": 600},
            "DERControlBase": {"opModFixedW": 5000}}]}, 201)
        stage = event["stages"][0]["id"]
        await site.store.record_credits([credit(stage, ids["device1"], site.lfdi("device1").upper(),
                                                site.ids["customer"], account, site.ids["sp"], "2.00")])
        # the leader's duty, once its interval has passed, sends what is unbilled
        duty = BillingDuty(site.store, site.harness.config, site.harness.clock)
        assert await duty.maybe_run() == 0  # not yet: one interval after start
        duty._last -= site.harness.config.billing_interval
        assert await duty.maybe_run() == 1
        (periodic,) = (await site.admin.ok("GET", "/billing/batches"))["items"]
        assert (periodic["trigger"], periodic["amount"]) == ("periodic", "2.00")

        # a new credit, then the customer moves out: it goes at once, alone (the first is on its way)
        await site.store.record_credits([credit(stage, ids["device3"], site.lfdi("device3").upper(),
                                                site.ids["customer"], account, site.ids["sp"], "0.75")])
        await site.admin.ok("PATCH", f"/customers/{site.ids['customer']}", {"status": "inactive"})
        batches = (await site.admin.ok("GET", f"/billing/batches?accountId={account}"))["items"]
        assert [(b["trigger"], b["amount"], b["credits"]) for b in batches] == [
            ("periodic", "2.00", 1), ("move-out", "0.75", 1)]
    finally:
        await site.harness.stop()


async def test_replacing_a_device_sends_its_accounts_unbilled_credits(make_harness, identities):
    site = await open_site(make_harness, identities)
    try:
        await site.admin.ok("POST", "/sync/endpoints", {"name": "cis", "url": "http://127.0.0.1:9/bills",
                                                        "purpose": "billing"}, 201)
        answer = await site.admin.ok("POST", "/registerDERDevice",
                                     registration(site.lfdi("device1"), aggregator=site.lfdi("aggregator")), 201)
        await site.process(answer["serviceTask"]["id"])
        account = (await site.admin.ok("GET", f"/customers/{site.ids['customer']}"))["accounts"][0]["id"]
        event = await site.admin.ok("POST", "/utility-events", {"stages": [{
            "programId": site.ids["program"], "interval": {"start": T0 + 600, "duration": 600},
            "DERControlBase": {"opModFixedW": 5000}}]}, 201)
        await site.store.record_credits([credit(event["stages"][0]["id"], answer["endDevice"]["id"],
                                                site.lfdi("device1").upper(), site.ids["customer"], account,
                                                site.ids["sp"], "3.10")])
        task = (await site.admin.ok("POST", f"/der-assets/{answer['derAsset']['id']}/replace",
                                    {"lFDI": site.lfdi("device2"), "serialNumber": "PW-0002"}, 201))["serviceTask"]
        assert await site.admin.ok("GET", "/billing/batches") == {"items": []}  # not until it is done
        await site.process(task["id"])
        (batch,) = (await site.admin.ok("GET", "/billing/batches"))["items"]
        assert (batch["trigger"], batch["amount"], batch["accountId"]) == ("replacement", "3.10", account)
    finally:
        await site.harness.stop()
