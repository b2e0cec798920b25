"""Interval data on the real server, on each store backend: CIS files loaded through the admin API and the
CLI (counted, idempotent, corrected, refused whole), a service point's readings in a window with its gaps and
estimates, and its telemetry, posted by its device over 2030.5 TLS, read back as interval energy."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp

from der_gateway.cli.main import main
from der_gateway.domain.identifiers import new_mrid
from der_gateway.sep import codec, model

from .test_enrollment import PEN, T0, TOKEN, Answer, Site, open_site
from .test_participation_api import register

CSV = "text/csv"
JSON = "application/json"

# SP-1: four half hours from T0, the third estimated, the fourth an export
FIRST = ("servicePoint,start,duration,kWh,quality\n"
         f"SP-1,{T0},1800,1.25,actual\n"
         "SP-1,2027-01-15T08:30:00Z,1800,0.75,\n"
         f"SP-1,{T0 + 3600},1800,0.5,estimated\n"
         f"SP-1,{T0 + 5400},1800,-0.2,actual\n")


async def post_file(site: Site, body: str | bytes, content_type: str, name: str | None = None) -> Answer:
    session: aiohttp.ClientSession = site.harness.sessions[0]
    params = {"name": name} if name else {}
    async with session.post(site.harness.server.admin_url + "/interval-data", params=params,
                            data=body.encode() if isinstance(body, str) else body,
                            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type}) as resp:
        return Answer(resp.status, json.loads(await resp.read()))


async def intervals(site: Site, sp: int, start: int, end: int, source: str | None = None) -> dict[str, Any]:
    query = f"from={start}&to={end}" + (f"&source={source}" if source else "")
    return await site.admin.ok("GET", f"/service-points/{sp}/intervals?{query}")


async def other_sp(site: Site) -> int:
    """SP-2's id (the other customer's service point)."""
    customer = await site.admin.ok("GET", f"/customers/{site.ids['other_customer']}")
    return customer["accounts"][0]["servicePoints"][0]["id"]


def counts(answer: Answer) -> tuple[int, int, int, int]:
    b = answer.body
    return b["rows"], b["inserted"], b["replaced"], b["unchanged"]


async def test_files_load_with_counts_and_loading_one_again_changes_nothing(make_harness, identities):
    site = await open_site(make_harness, identities)
    try:
        first = await post_file(site, FIRST, CSV, "january.csv")
        assert first.status == 201 and counts(first) == (4, 4, 0, 0), first.body
        other = await post_file(site, json.dumps({"readings": [
            {"servicePoint": "SP-2", "start": T0, "duration": 3600, "kWh": 2.5},
            {"servicePoint": "SP-2", "start": "2027-01-15T09:00:00+00:00", "duration": 3600, "kWh": "3",
             "flow": "export", "quality": "estimated"},
            {"servicePoint": "SP-2", "start": T0 + 7200, "duration": 3600, "kWh": "1.5E+1"}]}), JSON)
        assert other.status == 201 and counts(other) == (3, 3, 0, 0)
        assert other.body["batchId"] == first.body["batchId"] + 1
        batches = await site.store._rows("SELECT id, source, name, row_count, inserted, replaced, loaded_at "
                                         "FROM interval_batches ORDER BY id")
        assert batches == [(first.body["batchId"], "cis", "january.csv", 4, 4, 0, T0),
                           (other.body["batchId"], "cis", None, 3, 3, 0, T0)]

        before = site.harness.snapshot()
        again = await post_file(site, FIRST, CSV, "january.csv")
        assert again.status == 200 and counts(again) == (4, 0, 0, 4)
        assert again.body["batchId"] == first.body["batchId"]  # the batch that holds this content
        # the same readings written differently (1.250 is 1.25; rows in another order) change nothing either
        reordered = "\n".join([FIRST.splitlines()[0], *reversed(FIRST.splitlines()[1:])]).replace("1.25,", "1.250,")
        same = await post_file(site, reordered, CSV)
        assert same.status == 200 and counts(same) == (4, 0, 0, 4) and same.body["batchId"] is None
        assert site.harness.snapshot() == before

        sp2 = await intervals(site, await other_sp(site), T0, T0 + 10800)
        assert [(r["start"], r["kWh"], r["quality"]) for r in sp2["readings"]] == [
            (T0, "2.5", "actual"), (T0 + 3600, "-3", "estimated"), (T0 + 7200, "15", "actual")]
        assert sp2["totalKWh"] == "14.5"
    finally:
        await site.harness.stop()


async def test_a_corrected_file_replaces_the_values_it_changes(make_harness, identities):
    site = await open_site(make_harness, identities)
    try:
        await post_file(site, FIRST, CSV)
        site.harness.clock.advance(86_400)
        corrected = ("servicePoint,start,duration,kWh,quality\n"
                     f"SP-1,{T0},1800,1.25,actual\n"          # as before
                     f"SP-1,{T0 + 1800},1800,0.80,actual\n"   # a corrected value
                     f"SP-1,{T0 + 3600},1800,0.5,actual\n"    # the estimate, now measured
                     f"SP-1,{T0 + 7200},1800,0.1,actual\n")   # new
        answer = await post_file(site, corrected, CSV, "january-corrected.csv")
        assert answer.status == 201 and counts(answer) == (4, 1, 2, 1), answer.body
        window = await intervals(site, site.ids["sp"], T0, T0 + 9000)
        assert [(r["start"], r["kWh"], r["quality"]) for r in window["readings"]] == [
            (T0, "1.25", "actual"), (T0 + 1800, "0.80", "actual"), (T0 + 3600, "0.5", "actual"),
            (T0 + 5400, "-0.2", "actual"), (T0 + 7200, "0.1", "actual")]
        stored = await site.store._rows("SELECT start, batch_id, loaded_at FROM interval_readings ORDER BY start")
        first_batch = answer.body["batchId"] - 1
        assert stored == [(T0, first_batch, T0), (T0 + 1800, answer.body["batchId"], T0 + 86_400),
                          (T0 + 3600, answer.body["batchId"], T0 + 86_400), (T0 + 5400, first_batch, T0),
                          (T0 + 7200, answer.body["batchId"], T0 + 86_400)]
    finally:
        await site.harness.stop()


async def test_a_file_with_bad_rows_is_refused_whole_each_row_named(make_harness, identities):
    site = await open_site(make_harness, identities, interval_file_max_bytes=4096)
    try:
        await post_file(site, FIRST, CSV)
        before = site.harness.snapshot()
        bad = ("servicePoint,start,duration,kWh,quality\n"
               f"SP-1,{T0},1800,9.99,actual\n"            # fine, but must not be stored
               f"SP-404,{T0},1800,1,actual\n"             # unknown service point
               f"SP-1,{T0 + 1800},1700,1,actual\n"        # duration does not divide a day
               f"SP-1,{T0 + 3600},1800,1.2.3,actual\n"    # kWh
               f"SP-1,{T0},1800,1,actual\n")              # line 2's interval again
        answer = await post_file(site, bad, CSV)
        assert answer.status == 400
        assert answer.fields() == {
            "line 3.servicePoint": "no service point SP-404",
            "line 4.duration": "must be 60 to 86400 seconds and divide a day evenly (300, 900, 1800, 3600, ...)",
            "line 5.kWh": "must be a decimal number",
            "line 6.start": f"service point SP-1 has an interval starting at {T0} in line 2 already"}
        as_json = await post_file(site, json.dumps({"readings": [
            {"servicePoint": "SP-1", "start": T0, "duration": 1800, "kWh": 5},
            {"servicePoint": "SP-1", "start": "2027-01-15", "duration": 1800, "kWh": 1, "quality": "guessed"}]}),
            JSON)
        assert as_json.status == 400 and set(as_json.fields()) == {"readings[1].start", "readings[1].quality"}
        wrong_type = await post_file(site, FIRST, "text/plain")
        assert wrong_type.status == 415
        too_big = await post_file(site, FIRST + f"SP-2,{T0},1800,1\n" * 200, CSV)
        assert too_big.status == 413 and "4096-byte limit" in too_big.body["errors"][0]["reason"]
        query = await site.admin.call("POST", "/interval-data?colour=red", {"readings": []})
        assert query.status == 400 and query.fields() == {"colour": "unknown query parameter"}
        named = await site.admin.call("POST", "/interval-data?name=a%00b", {"readings": []})
        assert named.status == 400 and named.fields() == {"name": "contains a control character"}
        assert site.harness.snapshot() == before
    finally:
        await site.harness.stop()


async def test_the_cli_loads_a_file_through_the_admin_api(make_harness, identities, tmp_path, capsys):
    site = await open_site(make_harness, identities)
    try:
        url = site.harness.server.admin_url
        path = tmp_path / "readings.csv"
        path.write_text(FIRST)
        capsys.readouterr()
        code = await asyncio.to_thread(main, ["intervals", "load", str(path), "--admin-url", url, "--token", TOKEN])
        batch = (await site.store._rows("SELECT id FROM interval_batches"))[0][0]
        assert code == 0
        assert re.fullmatch(rf"readings.csv: 4 readings: 4 inserted, 0 replaced, 0 unchanged \(batch {batch}\) "
                            r"in \d+\.\ds\n", capsys.readouterr().out)
        code = await asyncio.to_thread(main, ["intervals", "load", str(path), "--admin-url", url, "--token", TOKEN])
        assert code == 0 and "0 inserted, 0 replaced, 4 unchanged" in capsys.readouterr().out
        assert await site.store._rows("SELECT name FROM interval_batches") == [("readings.csv",)]

        bad = tmp_path / "bad.data"
        bad.write_text('{"readings": [{"servicePoint": "SP-9", "start": 1, "duration": 900, "kWh": "x"}]}')
        code = await asyncio.to_thread(main, ["intervals", "load", str(bad), "--format", "json", "--admin-url", url,
                                              "--token", TOKEN])
        err = capsys.readouterr().err
        assert code == 1 and "refused (400), 2 problem(s); nothing was loaded" in err
        assert "readings[0].kWh: must be a decimal number" in err
        assert "readings[0].servicePoint: no service point SP-9" in err
        code = await asyncio.to_thread(main, ["intervals", "load", str(path), "--admin-url", url, "--token", "wrong"])
        assert code == 1 and "refused (401)" in capsys.readouterr().err
    finally:
        await site.harness.stop()


async def test_a_window_lists_the_readings_with_gaps_and_estimates_flagged(make_harness, identities):
    site = await open_site(make_harness, identities)
    try:
        await post_file(site, FIRST.replace(f"SP-1,{T0 + 3600},1800,0.5,estimated\n", "")
                        + f"SP-1,{T0 + 3600},900,0.5,estimated\n", CSV)
        sp = site.ids["sp"]
        window = await intervals(site, sp, T0 - 1800, T0 + 9000)
        assert window == {
            "servicePointId": sp, "servicePoint": "SP-1", "source": "cis", "from": T0 - 1800, "to": T0 + 9000,
            "readings": [
                {"start": T0, "duration": 1800, "kWh": "1.25", "quality": "actual", "estimated": False},
                {"start": T0 + 1800, "duration": 1800, "kWh": "0.75", "quality": "actual", "estimated": False},
                {"start": T0 + 3600, "duration": 900, "kWh": "0.5", "quality": "estimated", "estimated": True},
                {"start": T0 + 5400, "duration": 1800, "kWh": "-0.2", "quality": "actual", "estimated": False}],
            "gaps": [{"start": T0 - 1800, "end": T0, "duration": 1800},
                     {"start": T0 + 4500, "end": T0 + 5400, "duration": 900},
                     {"start": T0 + 7200, "end": T0 + 9000, "duration": 1800}],
            "estimatedCount": 1, "totalKWh": "2.30",
            "coverage": {"seconds": 10800, "actual": 5400, "estimated": 900, "missing": 4500, "complete": False}}
        # a window cutting through readings lists them whole; ISO 8601 bounds
        inner = await site.admin.ok("GET", f"/service-points/{sp}/intervals?from=2027-01-15T08:15:00Z"
                                           "&to=2027-01-15T08:45:00%2B00:00")
        assert [r["start"] for r in inner["readings"]] == [T0, T0 + 1800] and inner["gaps"] == []
        assert (await intervals(site, await other_sp(site), T0, T0 + 3600))["readings"] == []

        base = f"/service-points/{sp}/intervals"
        for query, wrong in (("", {"from", "to"}), (f"?from={T0}&to={T0}", {"to"}),
                             (f"?from=today&to={T0}&source=meter", {"from", "source"}),
                             (f"?from={T0}&to={T0 + 32 * 86_400}", {"to"}), (f"?from={T0}&to={T0 + 1}&x=1", {"x"})):
            answer = await site.admin.call("GET", base + query)
            assert answer.status == 400 and set(answer.fields()) == wrong, (query, answer.body)
        assert (await site.admin.call("GET", f"/service-points/99999/intervals?from={T0}&to={T0 + 1}")).status == 404
    finally:
        await site.harness.stop()


def usage_point(lfdi: str) -> bytes:
    """The device's active power, W x 10^2, as 15-minute readings from T0; the third one estimated (qualityFlags
    bit 1), and none for the fourth quarter hour."""
    readings = [model.Reading(value=value, qualityFlags=flags,
                              timePeriod=model.DateTimeInterval(duration=900, start=T0 + 900 * i))
                for i, (value, flags) in enumerate([(12, None), (0, None), (-4, "0002")])]
    return codec.encode(model.MirrorUsagePoint(
        mRID=new_mrid(PEN), roleFlags="0009", serviceCategoryKind=0, status=1, deviceLFDI=lfdi,
        MirrorMeterReading=[model.MirrorMeterReading(
            mRID=new_mrid(PEN), description="W",
            MirrorReadingSet=[model.MirrorReadingSet(mRID=new_mrid(PEN), Reading=readings,
                                                     timePeriod=model.DateTimeInterval(duration=3600, start=T0))],
            ReadingType=model.ReadingType(commodity=1, dataQualifier=2, intervalLength=900, kind=37,
                                          powerOfTenMultiplier=2, uom=38))]))


async def test_a_devices_posted_telemetry_is_its_service_points_interval_energy(make_harness, identities):
    site = await open_site(make_harness, identities)
    try:
        await register(site, "device1", "PW-0001", 4000)  # at SP-1
        reply = await site.harness.client("aggregator").post("/mup", usage_point(site.lfdi("device1").upper()))
        assert reply.status == 201, reply.reason
        window = await intervals(site, site.ids["sp"], T0, T0 + 3600, "telemetry")
        # 1200 W delivered for 900 s: 1200 x 900 / 3 600 000 = 0.3 kWh off the point; 0 W: nothing;
        # -400 W (drawn, estimated): 400 x 900 / 3 600 000 = 0.1 kWh onto it; the last quarter hour a gap
        assert window["source"] == "telemetry"
        assert window["readings"] == [
            {"start": T0, "duration": 900, "kWh": "-0.300000", "quality": "actual", "estimated": False},
            {"start": T0 + 900, "duration": 900, "kWh": "0.000000", "quality": "actual", "estimated": False},
            {"start": T0 + 1800, "duration": 900, "kWh": "0.100000", "quality": "estimated", "estimated": True}]
        assert window["gaps"] == [{"start": T0 + 2700, "end": T0 + 3600, "duration": 900}]
        assert window["totalKWh"] == "-0.200000" and window["estimatedCount"] == 1
        # derived when read, not copied: nothing of it is stored as interval readings, and the CIS series is empty
        assert await site.store._rows("SELECT count(*) FROM interval_readings") == [(0,)]
        assert (await intervals(site, site.ids["sp"], T0, T0 + 3600, "cis"))["readings"] == []
        # another service point has no devices, so no telemetry
        assert (await intervals(site, await other_sp(site), T0, T0 + 3600, "telemetry"))["readings"] == []
    finally:
        await site.harness.stop()
