"""Settling a stage on the real server, from telemetry posted over 2030.5, loaded interval files and prices:
kWh avoided per device, credits under the program's tariff, the export for analytics; on each backend."""

from __future__ import annotations

import csv
import dataclasses
import json

from der_gateway.services.settlement import SettlementDuty, settlement_dir

from .test_enrollment import T0, open_site
from .test_participation_api import respond, telemetry, three_devices

H = 3600


async def test_a_stage_is_settled_from_telemetry_at_the_programs_price_and_terms(make_harness, identities):
    site = await open_site(make_harness, identities)
    try:
        ids = await three_devices(site)  # device1 and device2 at SP-1, device3 at SP-3; the clock at T0 + 1 h
        program = site.ids["program"]
        tariff = await site.admin.ok("POST", "/tariffs", {"code": "DR-1", "terms": {"settlement": {
            "perEvent": "5.00", "optOutPenalty": "3.00", "noResponsePenalty": "1.50", "currency": "USD"}}}, 201)
        await site.admin.ok("PUT", f"/customers/{site.ids['customer']}/tariffs/{tariff['id']}", status=204)
        rules = await site.admin.ok("GET", f"/programs/{program}/rules")
        await site.admin.ok("PUT", f"/programs/{program}/rules", {
            "code": rules["code"], "eligibility": {**rules["eligibility"], "tariffId": tariff["id"]}})
        await site.admin.ok("PUT", f"/programs/{program}/pricing", {"kind": "fixed", "pricePerKWh": "0.20"})
        assert (await site.admin.ok("GET", f"/programs/{program}/baseline"))["method"]["name"] == "high-x-of-y"
        await site.admin.ok("PUT", f"/programs/{program}/baseline", {"method": {"name": "meter-before",
                                                                               "minutes": 15}})
        # device1's telemetry: charging at 1 kW the hour before the event, delivering 2 kW during it
        reply = await site.harness.client("aggregator").post("/mup", telemetry(site.lfdi("device1").upper(), [
            (T0 + H, -10), (T0 + 2 * H, 20)]))
        assert reply.status == 201, reply.reason
        event = await site.admin.ok("POST", "/utility-events", {"stages": [{
            "programId": program, "interval": {"start": T0 + 2 * H, "duration": H},
            "DERControlBase": {"opModFixedW": 5000}}]}, 201)
        stage = event["stages"][0]
        path = f"/utility-events/{event['id']}/stages/1/settlement"
        refused = await site.admin.call("POST", path)
        assert refused.status == 409 and "not ended" in refused.body["errors"][0]["reason"]

        site.harness.clock.set(T0 + 2 * H + 60)
        await respond(site, "device1", stage["mRID"], 3)  # completed
        await respond(site, "device3", stage["mRID"], 4)  # opted out; device2 never answers
        site.harness.clock.set(T0 + 3 * H + 60)
        await site.harness.server.background.scheduler.run_once()

        # the leader settles a stage settlement_delay seconds after it ended (here at once), and only once
        waiting = SettlementDuty(site.store, site.harness.config, site.harness.clock)  # a day, by default
        assert await waiting.run_once() == 0  # it ended a minute ago
        duty = SettlementDuty(site.store, dataclasses.replace(site.harness.config, settlement_delay=0),
                              site.harness.clock)
        assert await duty.run_once() == 1 and await duty.run_once() == 0
        assert len((await site.admin.ok("GET", path))["credits"]) == 3
        settled = await site.admin.ok("POST", path)
        by = {c["endDeviceId"]: c for c in settled["credits"]}
        # device1: baseline = the 15 minutes before, +1 kW of load, over the hour: 1.000 kWh; measured -2.000 kWh
        #   (it delivered 2 kW); avoided 3.000 kWh x 0.20 = 0.60; participated: 5.00; 5.60
        one = by[ids["device1"]]
        assert (one["baselineKWh"], one["measuredKWh"], one["avoidedKWh"], one["quality"]) == (
            "1.000", "-2.000", "3.000", "complete")
        assert (one["energy"], one["perEvent"], one["penalty"], one["total"], one["currency"]) == (
            "0.60", "5.00", "0.00", "5.60", "USD")
        assert one["servicePointId"] == site.ids["sp"] and one["customerId"] == site.ids["customer"]
        # device2: no telemetry, nothing measured; it never answered: -1.50
        two = by[ids["device2"]]
        assert (two["avoidedKWh"], two["quality"], two["energy"], two["penalty"], two["total"]) == (
            None, "incomplete", "0.00", "1.50", "-1.50")
        # device3 opted out: -3.00
        assert by[ids["device3"]]["total"] == "-3.00"
        assert settled["totals"] == {"USD": "1.10"}
        assert await site.admin.ok("GET", path) == settled

        # for analytics: the stage's kWh avoided and credits, as JSON and CSV
        exported = json.loads((settlement_dir(site.harness.config) / f"stage-{stage['id']}.json").read_text())
        assert exported["eventMRID"] == event["mRID"] and len(exported["devices"]) == 3
        rows = list(csv.DictReader((settlement_dir(site.harness.config) / f"stage-{stage['id']}.csv")
                                   .read_text().splitlines()))
        assert {(r["endDeviceLFDI"], r["avoidedKWh"], r["total"]) for r in rows} >= {
            (site.lfdi("device1").upper(), "3.000", "5.60")}

        # interval files from billing, once loaded, are the service point's measure (shared by its two devices)
        start = T0 + H
        text = "servicePoint,start,duration,kWh,quality\n" + "".join(
            f"SP-1,{start + i * 900},900,{'0.5' if i < 4 else '-0.25'},actual\n" for i in range(8))
        status, _ = await _post_csv(site, text)
        assert status in (200, 201)
        again = await site.admin.ok("POST", path)
        by = {c["endDeviceId"]: c for c in again["credits"]}
        # SP-1: 2 kW of load before (0.5 kWh a quarter), so a 2.000 kWh baseline over the hour; -1.000 kWh
        # measured; 3.000 kWh avoided, half to each of its two devices: 1.500 each, 0.30 at 0.20
        assert (by[ids["device1"]]["avoidedKWh"], by[ids["device1"]]["energy"]) == ("1.500", "0.30")
        assert (by[ids["device2"]]["avoidedKWh"], by[ids["device2"]]["total"]) == ("1.500", "-1.20")

        # the customer's statement: as JSON, and as a document with a plot of each event
        statement = await site.admin.ok("GET", f"/customers/{site.ids['customer']}/statement"
                                               f"?from={T0}&to={T0 + 86400}")
        assert statement["customer"]["externalId"] == "C-1" and len(statement["events"]) == 3
        # 5.30 + -1.20 + -3.00
        assert statement["avoidedKWh"] == "3.000" and statement["credits"] == {"USD": "1.10"}
        assert statement["unbilled"] == {"USD": "1.10"} and statement["billed"] == {}
        assert statement["byEvent"] == [{"eventMRID": event["mRID"], "description": None, "stages": [1],
                                         "avoidedKWh": "3.000", "credits": {"USD": "1.10"}}]
        first = next(e for e in statement["events"] if e["endDeviceId"] == ids["device1"])
        assert (first["outcome"], first["eventMRID"], first["profile"][0][2:]) == (
            "participated", event["mRID"], ["0.250", "-0.125"])  # its half of SP-1's first quarter hour
        # device1's DERs delivered 2 kW for the event's hour: 2 kWh produced at SP-1
        assert {p["servicePoint"]: p["producedKWh"] for p in statement["production"]} == {"SP-1": "2.000",
                                                                                         "SP-3": "0.000"}
        async with site.admin.session.get(site.admin.base + f"/customers/{site.ids['customer']}/statement.html"
                                          f"?from={T0}&to={T0 + 86400}",
                                          headers={"Authorization": f"Bearer {site.admin.token}"}) as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            page = await resp.text()
        assert "<svg" in page and event["mRID"] in page and "Ada" in page and "1.10 USD" in page
        for query in ("", f"?from={T0}", f"?from={T0}&to={T0 - 1}"):
            assert (await site.admin.call("GET", f"/customers/{site.ids['customer']}/statement{query}")).status == 400
        assert (await site.admin.call("GET", f"/customers/999/statement?from={T0}&to={T0 + 1}")).status == 404

        # bad input changes nothing
        before = site.harness.snapshot()
        for body in ({"method": {"name": "guess"}}, {"method": {"name": "meter-before", "minutes": -1}},
                     {"measurement": "cis"}, {"method": {"name": "meter-before"}, "measurement": "eyeball"}):
            assert (await site.admin.call("PUT", f"/programs/{program}/baseline", body)).status == 400, body
        bad_terms = {"code": "DR-2", "terms": {"settlement": {"perEvent": "five"}}}
        assert (await site.admin.call("POST", "/tariffs", bad_terms)).status == 400
        assert site.harness.snapshot() == before
    finally:
        await site.harness.stop()


async def _post_csv(site, text: str) -> tuple[int, object]:
    async with site.admin.session.post(site.admin.base + "/interval-data", data=text.encode(),
                                       headers={"Content-Type": "text/csv",
                                                "Authorization": f"Bearer {site.admin.token}"}) as resp:
        return resp.status, await resp.json()
