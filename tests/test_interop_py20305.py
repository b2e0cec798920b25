"""Interop with a third-party client: py20305, from PyPI, against a real der-gateway server.

py20305's own CsipClient does what a device does, over mutual TLS 1.2 with
ECDHE-ECDSA-AES128-CCM8 and device1's certificate: it discovers from /dcap,
registers its EndDevice, finds the program assigned to its group through the
FunctionSetAssignments, picks up an event with its DERControl poll, applies it
through its dispatcher and posts the responses its event engine owes.

The client is stepped through its public API, the way py20305's own runner
does (connect, register_end_device, trigger_rediscovery), rather than left
running as a daemon; poll_now is its "poll the DERControls now" call.  The
server runs on the system clock because py20305 schedules event timers on real
time (its timebase follows the server's Time resource).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from py20305.client import CsipClient, TlsConfig
from py20305.connectors.print_demo import PrintDemoConnector
from py20305.events.dispatch import NullDispatcher
from py20305.telemetry.der_resource_manager import DerResourceManager

from der_gateway.clock import SystemClock
from der_gateway.config import DEFAULT_CIPHERS
from der_gateway.domain.identifiers import Pen, new_mrid
from der_gateway.sep import codec, model
from der_gateway.services import der_controls

PEN = Pen(40732)
RECEIVED, STARTED, COMPLETED = 1, 2, 3  # Table 27 DER response codes


class RecordingDispatcher(NullDispatcher):
    """py20305's no-op dispatcher, keeping each control the client applies to a device."""

    def __init__(self) -> None:
        self.applied: list[tuple[str, Any]] = []

    async def apply_control(self, device_href: str, derc: Any, curves: list[Any]) -> None:
        self.applied.append((device_href, derc))


async def eventually(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Awaits until condition() (sync or async) is truthy; fails naming what did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"within {timeout:.0f} s: {what}")
        await asyncio.sleep(0.1)


def tls_for(certs_dir: Path, name: str) -> TlsConfig:
    # TLS 1.2 only is py20305's own setting; the suite is narrowed to the one 2030.5 mandates.
    # OpenSSL 3.2 moved the 64-bit-tag CCM8 suites to security level 0.
    return TlsConfig(client_cert=certs_dir / f"{name}.pem", client_key=certs_dir / f"{name}.key",
                     ca_cert=certs_dir / "serca.pem", ciphers=f"{DEFAULT_CIPHERS}:@SECLEVEL=0")


@pytest.fixture
async def server(make_harness):
    h = make_harness()  # SystemClock: py20305 runs its event timers on real time
    await h.start()
    yield h
    await h.stop()


async def test_py20305_registers_discovers_a_program_receives_an_event_and_responds(server, certs_dir, identities):
    h, store, clock = server, server.store, SystemClock()
    lfdi = identities["device1"].lfdi.upper()
    dispatcher = RecordingDispatcher()
    # CSIP is a profile of IEEE 2030.5-2018, the edition this server validates against.  In its default
    # 2023 mode py20305 puts schemaVer="2.2" on every body it sends and modesResponded in responses,
    # which the 2018 schema refuses (POST /edev answers 400); server_2018_compat is its switch for this.
    client = CsipClient(h.server.url, tls=tls_for(certs_dir, "device1"), dispatcher=dispatcher,
                        server_2018_compat=True)
    async with client:
        # discovery from /dcap; the server knows no EndDevice for this certificate yet
        await client.connect()
        assert client.state.dcap is not None and client.state.time is not None
        assert client.http.client_lfdi.upper() == lfdi  # py20305 derives the same LFDI from the certificate
        assert client.state.end_devices == {}

        # 1. registration: py20305 POSTs its EndDevice, then rediscovers it (as its runner does)
        location = await client.register_end_device(lfdi=client.http.client_lfdi, device_category=0x40000)
        registered = [d for d in await store.all_end_devices() if d.lFDI.upper() == lfdi]
        assert len(registered) == 1, registered
        edev = registered[0]
        assert location == f"/edev/{edev.id}" and edev.owner_lfdi.upper() == lfdi
        assert edev.sFDI == identities["device1"].sfdi
        await client.trigger_rediscovery()
        assert list(client.state.end_devices) == [location]
        assert client.state.end_devices[location].lfdi.hex().upper() == lfdi
        assert client.state.der_programs == {}

        # 2. its EndDevice joins a group with a program; py20305 finds the program through the FSA
        group = await store.create_group(new_mrid(PEN), "interop feeder")
        await store.set_membership(group, [edev.id], True)
        program = await store.create_program(new_mrid(PEN), "interop curtailment", 1)
        await store.set_group_program(group, program, True)
        await client.trigger_rediscovery()
        program_href = f"/derp/{program}"
        assert list(client.state.der_programs) == [program_href]
        discovered = client.state.der_programs[program_href]
        assert discovered.program.description == "interop curtailment" and discovered.primacy == 1
        assert discovered.discovered_from_fsa_href == f"/fsa/{group}"
        assert [f.href for f in client.state.end_devices[location].fsa_list] == [f"/fsa/{group}"]
        assert discovered.der_controls == []

        # 3. an event a few seconds ahead reaches the client through its DERControl poll
        start, duration = clock.now() + 3, 3
        event = await der_controls.create_event(store, clock, PEN, program, model.DERControl(
            mRID="", creationTime=0, interval=model.DateTimeInterval(start=start, duration=duration),
            EventStatus=model.EventStatus(currentStatus=0, dateTime=0, potentiallySuperseded=False),
            DERControlBase=model.DERControlBase(opModMaxLimW=2500), responseRequired="03"))
        await h.server.background.settle()
        assert await client.poll_now() == 1
        [received] = client.state.der_programs[program_href].der_controls
        assert received.m_rid.value.hex().upper() == event.mRID.upper()
        assert (received.interval.start.value, received.interval.duration) == (start, duration)
        assert received.dercontrol_base.op_mod_max_lim_w.value == 2500
        assert received.reply_to == "/rsps/1/rsp"

        # 4. it responds: received at once, started when its timer applies the control, completed at the end
        async def statuses() -> list[int]:
            return [r.status for r in await store.responses(event.id)]

        # (poll_now may find the ACK already under way from the poll its rediscovery started, so wait for it)
        await eventually(lambda: _has(statuses, RECEIVED), 5, "the server stored py20305's 'received' response")
        assert await statuses() == [RECEIVED]
        await eventually(lambda: dispatcher.applied, duration + 5, "py20305 applied the event at its start")
        [(applied_to, applied)] = dispatcher.applied
        assert applied_to == location and applied.m_rid.value == received.m_rid.value
        await eventually(lambda: _has(statuses, STARTED), 5, "the server stored py20305's 'started' response")
        await eventually(lambda: _has(statuses, COMPLETED), duration + 5,
                         "the server stored py20305's 'completed' response")
        responses = await store.responses(event.id)
        assert [r.status for r in responses] == [RECEIVED, STARTED, COMPLETED]
        assert {r.end_device_lfdi.upper() for r in responses} == {lfdi}
        assert all(start - 5 <= r.created <= start + duration + 5 for r in responses), responses


async def _has(statuses: Callable[[], Any], status: int) -> bool:
    return status in await statuses()


@pytest.fixture
async def aus_server(make_harness):
    h = make_harness(profile="csip-aus")
    await h.start()
    yield h
    await h.stop()


@pytest.mark.parametrize("host_sets_profile", [True, False])
async def test_py20305_finds_csip_aus_and_puts_its_der_documents(aus_server, certs_dir, identities, caplog,
                                                                 host_sets_profile):
    """Under csip-aus py20305 tells the profile from the csipaus declaration on /dcap, attaches CSIP-AUS's
    doeModesSupported to its DERCapability when its host passes the profile on, and every PUT of its DER
    documents succeeds at once (204: py20305 takes 201 for a PUT as a refusal and logs "PUT ... rejected").
    A plain CsipClient leaves the DOE modes out: taken as 00, none."""
    h, store = aus_server, aus_server.store
    lfdi = identities["device1"].lfdi.upper()
    client = CsipClient(h.server.url, tls=tls_for(certs_dir, "device1"), server_2018_compat=True)
    async with client:
        await client.connect()
        assert client.state.csip_aus_mode, "py20305 did not find the CSIP-AUS namespace in /dcap"
        location = await client.register_end_device(lfdi=client.http.client_lfdi, device_category=0x40000)
        await client.trigger_rediscovery()
        found = client.state.end_devices[location]
        hrefs = (found.der_capability_href, found.der_settings_href, found.der_status_href)
        assert hrefs == tuple(f"{location}/der/1/{kind}" for kind in ("dercap", "derg", "ders"))

        # py20305 0.16.1 keeps the detected profile in its discovered state, while its DER resource
        # manager reads it from the HTTP client and nothing of py20305's copies it there: a host does.
        if host_sets_profile:
            client.http.csip_aus_mode = client.state.csip_aus_mode
        connector = PrintDemoConnector()
        manager = DerResourceManager(client.http, connector_resolver=lambda _lfdi: connector)
        caplog.clear()
        manager.start_device(lfdi.lower(), *hrefs)
        edev = next(d for d in await store.all_end_devices() if d.lFDI.upper() == lfdi)

        async def written() -> bool:
            return all([await store.der_document(edev.id, 1, kind) for kind in ("dercap", "derg", "ders")])

        try:
            await eventually(written, 10, "py20305 PUT its DERCapability, DERSettings and DERStatus")
        finally:
            await manager.shutdown()
    capability = codec.from_data(model.DERCapability, await store.der_document(edev.id, 1, "dercap"))
    assert capability.doeModesSupported == ("0F" if host_sets_profile else "00")
    assert capability.rtgMaxW == model.ActivePower(multiplier=0, value=15000)
    settings = codec.from_data(model.DERSettings, await store.der_document(edev.id, 1, "derg"))
    assert settings.setMaxW.value * 10 ** settings.setMaxW.multiplier == 10000
    assert (settings.doeModesEnabled == "00") is not host_sets_profile
    refusals = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage() or r.levelname == "ERROR"]
    assert refusals == []
