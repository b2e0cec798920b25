"""Which control is in force for a device, and the responses it owes (der_gateway.bridge.decision)."""

from __future__ import annotations

import dataclasses

import pytest

from der_gateway.bridge import sunspec_map as sm
from der_gateway.bridge.decision import (
    Decision, ProgramView, ResponseStatus as R, ResponseTracker, decide, effective_window, random_offset,
    scheduled_window,
)
from der_gateway.sep import codec
from der_gateway.sep import model as m
from der_gateway.xsd import load_schemas

from . import bridge_samples as b

NOW = b.NOW
SEED = "device-1"
T0 = NOW + 100  # an event's start
A, B, C = b.mrid(0xA), b.mrid(0xB), b.mrid(0xC)


def program(key: str = "/derp/1", primacy: int = 10, *controls: m.DERControl,
            default: m.DefaultDERControl | None = None) -> ProgramView:
    return ProgramView(key, primacy, default, tuple(controls))


def with_status(control: m.DERControl, status: int, at: int) -> m.DERControl:
    return dataclasses.replace(control, EventStatus=m.EventStatus(currentStatus=status, dateTime=at,
                                                                    potentiallySuperseded=False))


def statuses(due) -> list[tuple[str, int]]:
    return [(d.mrid, int(d.status)) for d in due]


# -- randomization ---------------------------------------------------------------------------------------

def test_random_offsets_are_deterministic_and_bounded():
    draws = [random_offset(f"dev{i}", A, "start", 300) for i in range(200)]
    assert all(0 <= d <= 300 for d in draws)
    assert len(set(draws)) > 50  # they spread
    assert random_offset("dev1", A, "start", 300) == random_offset("dev1", A, "start", 300)
    assert all(-120 <= random_offset(f"dev{i}", A, "start", -120) <= 0 for i in range(100))
    assert random_offset("dev1", A, "start", 0) == 0 and random_offset("dev1", A, "start", None) == 0


def test_randomized_window():
    event = b.control(A, T0, 600, randomize_start=120, randomize_duration=-60)
    window = scheduled_window(event, SEED)
    rs, rd = random_offset(SEED, A, "start", 120), random_offset(SEED, A, "duration", -60)
    assert (window.start, window.end) == (T0 + rs, T0 + rs + 600 + rd)
    assert T0 <= window.start <= T0 + 120 and window.end - window.start >= 540
    other = scheduled_window(event, "device-2")
    assert (other.start, other.end) != (window.start, window.end)  # devices spread out


# -- decide ------------------------------------------------------------------------------------------------

def test_event_then_default_and_the_next_change():
    default = b.default_control()
    programs = [program("/derp/1", 10, b.control(A, T0, 600), default=default)]
    before = decide(programs, NOW, SEED)
    assert (before.source, before.mrid, before.next_change) == ("default", default.mRID, T0)
    assert before.base == default.DERControlBase and before.remaining(NOW) is None
    during = decide(programs, T0, SEED)
    assert (during.source, during.mrid, during.program, during.start, during.end) == ("event", A, "/derp/1", T0,
                                                                                     T0 + 600)
    assert during.next_change == T0 + 600 and during.remaining(T0 + 100) == 500
    assert during.base.opModMaxLimW == 5000
    after = decide(programs, T0 + 600, SEED)  # the end is exclusive
    assert after.source == "default" and after.next_change is None


def test_nothing_in_force():
    assert decide([program()], NOW, SEED) == Decision(None, "none", None, None, None, None, None)


def test_lowest_primacy_wins_across_programs():
    utility = program("/derp/1", 1, b.control(A, T0 + 100, 200, m.DERControlBase(opModMaxLimW=2000)))
    market = program("/derp/2", 5, b.control(B, T0, 600, m.DERControlBase(opModMaxLimW=7000), created=NOW))
    programs = [market, utility]
    assert decide(programs, T0, SEED).mrid == B
    assert decide(programs, T0, SEED).next_change == T0 + 100
    assert decide(programs, T0 + 100, SEED).mrid == A
    assert decide(programs, T0 + 300, SEED).mrid == B  # the other program's event still runs
    assert decide(programs, T0 + 300, SEED).next_change == T0 + 600


def test_within_a_program_the_newest_wins():
    old = b.control(A, T0, 600, m.DERControlBase(opModMaxLimW=2000), created=NOW - 900)
    new = b.control(B, T0 + 200, 600, m.DERControlBase(opModMaxLimW=4000), created=NOW - 100)
    programs = [program("/derp/1", 10, new, old)]
    assert decide(programs, T0 + 100, SEED).mrid == A
    assert decide(programs, T0 + 200, SEED).mrid == B


@pytest.mark.parametrize("status", [2, 4])  # cancelled, superseded
def test_cancelled_and_superseded_events_do_not_run(status):
    event = with_status(b.control(A, T0, 600), status, T0 - 50)
    decision = decide([program("/derp/1", 10, event, default=b.default_control())], T0 + 10, SEED)
    assert decision.source == "default" and decision.next_change is None


def test_cancelled_with_randomization_stops_within_the_bound():
    event = b.control(A, T0, 3600, randomize_start=0, randomize_duration=300)
    cancelled = with_status(event, 3, T0 + 1000)
    window = effective_window(cancelled, SEED)
    delay = random_offset(SEED, A, "cancel", 300)
    assert window.start == T0 and window.end == T0 + 1000 + delay <= T0 + 1300
    programs = [program("/derp/1", 10, cancelled)]
    assert decide(programs, T0 + 999 + delay, SEED).mrid == A
    assert decide(programs, T0 + 1000 + delay, SEED).source == "none"
    # cancelled before it ran: it never runs
    assert effective_window(with_status(event, 3, T0 - 10), SEED) is None


def test_randomized_start_moves_the_decision():
    event = b.control(A, T0, 600, randomize_start=300)
    start = scheduled_window(event, SEED).start
    assert start > T0  # for this seed
    programs = [program("/derp/1", 10, event)]
    assert decide(programs, start - 1, SEED).source == "none"
    assert decide(programs, start - 1, SEED).next_change == start
    assert decide(programs, start, SEED).mrid == A


def test_default_of_the_lowest_primacy_program():
    low, high = b.default_control(b.mrid(1)), b.default_control(b.mrid(2), opModMaxLimW=6000)
    programs = [program("/derp/2", 3, default=high), program("/derp/1", 8, default=low), program("/derp/3", 1)]
    assert decide(programs, NOW, SEED).mrid == b.mrid(2)


def test_accept_and_device_category_filter_events():
    refused = b.control(A, T0, 600, m.DERControlBase(opModFreqWatt=m.Link(href="/c")))
    other_kind = dataclasses.replace(b.control(B, T0, 600), deviceCategory="0400")  # not ours
    programs = [program("/derp/1", 10, refused, other_kind)]
    supported = "0010000C"  # MaxLimW, connect, energize

    def accept(c):
        return not sm.unsupported_modes(c.DERControlBase, supported)

    assert decide(programs, T0, SEED, accept=accept, device_category=0x1000).source == "none"
    assert decide(programs, T0, SEED, accept=accept, device_category=0x0400).mrid == B


# -- responses --------------------------------------------------------------------------------------------------

def test_a_normal_event_is_received_started_completed():
    tracker = ResponseTracker(SEED)
    programs = [program("/derp/1", 10, b.control(A, T0, 600), default=b.default_control())]
    assert statuses(tracker.update(programs, NOW)) == [(A, 1)]
    assert tracker.update(programs, NOW + 10) == []
    due = tracker.update(programs, T0)
    assert statuses(due) == [(A, 2)]
    assert due[0].reply_to == "/rsps/1/rsp" and due[0].program == "/derp/1"
    assert tracker.update(programs, T0 + 300) == []
    assert statuses(tracker.update(programs, T0 + 600)) == [(A, 3)]
    assert tracker.update(programs, T0 + 900) == []


def test_first_seen_running_is_received_and_started_at_once():
    tracker = ResponseTracker(SEED)
    assert statuses(tracker.update([program("/derp/1", 10, b.control(A, NOW - 10, 600))], NOW)) == [(A, 1), (A, 2)]


def test_cancel_before_start():
    tracker = ResponseTracker(SEED)
    event = b.control(A, T0, 600)
    assert statuses(tracker.update([program("/derp/1", 10, event)], NOW)) == [(A, 1)]
    cancelled = [program("/derp/1", 10, with_status(event, 2, NOW + 5))]
    assert statuses(tracker.update(cancelled, NOW + 5)) == [(A, 6)]
    assert tracker.update(cancelled, T0) == [] and tracker.update(cancelled, T0 + 600) == []


def test_cancel_with_randomization_while_running():
    tracker = ResponseTracker(SEED)
    event = b.control(A, T0, 3600, randomize_duration=300)
    assert statuses(tracker.update([program("/derp/1", 10, event)], T0)) == [(A, 1), (A, 2)]
    cancelled = [program("/derp/1", 10, with_status(event, 3, T0 + 100))]
    stop = effective_window(cancelled[0].controls[0], SEED).end
    assert T0 + 100 < stop <= T0 + 400  # 22 s for this seed
    assert tracker.update(cancelled, T0 + 100) == []  # still running until its random stop
    assert tracker.decide(cancelled, stop - 1).mrid == A
    assert statuses(tracker.update(cancelled, stop)) == [(A, 6)]
    assert tracker.decide(cancelled, stop).source == "none"


def test_superseded_by_a_newer_event_of_the_same_program():
    tracker = ResponseTracker(SEED)
    old = b.control(A, T0, 3600, created=NOW - 900)
    assert statuses(tracker.update([program("/derp/1", 10, old)], T0 + 10)) == [(A, 1), (A, 2)]
    new = b.control(B, T0 + 600, 600, m.DERControlBase(opModMaxLimW=3000), created=T0 + 20)
    programs = [program("/derp/1", 10, old, new)]
    assert statuses(tracker.update(programs, T0 + 20)) == [(B, 1)]
    # the server marks the old one superseded when the new one starts
    programs = [program("/derp/1", 10, with_status(old, 4, T0 + 600), new)]
    assert sorted(statuses(tracker.update(programs, T0 + 600))) == [(A, 7), (B, 2)]
    assert statuses(tracker.update(programs, T0 + 1200)) == [(B, 3)]


def test_superseded_seen_by_the_client_before_the_server_says_so():
    tracker = ResponseTracker(SEED)
    old = b.control(A, T0, 3600, created=NOW - 900)
    new = b.control(B, T0 + 600, 600, created=NOW - 100)
    programs = [program("/derp/1", 10, old, new)]
    tracker.update(programs, T0)
    assert sorted(statuses(tracker.update(programs, T0 + 600))) == [(A, 7), (B, 2)]
    assert tracker.update([program("/derp/1", 10, with_status(old, 4, T0 + 600), new)], T0 + 601) == []


def test_aborted_for_another_programs_event():
    tracker = ResponseTracker(SEED)
    market = b.control(A, T0, 3600)
    utility = b.control(B, T0 + 600, 600)
    programs = [program("/derp/2", 5, market), program("/derp/1", 1, utility)]
    assert sorted(statuses(tracker.update(programs, T0))) == [(A, 1), (A, 2), (B, 1)]
    assert sorted(statuses(tracker.update(programs, T0 + 600))) == [(A, 14), (B, 2)]
    assert statuses(tracker.update(programs, T0 + 1200)) == [(B, 3)]
    assert tracker.update(programs, T0 + 3600) == []  # 14 was its last word


def test_unsupported_modes_are_rejected_and_never_run(schemas):
    capability = sm.der_capability(b.pv_inverter())
    tracker = ResponseTracker(SEED, accept=lambda c: not sm.unsupported_modes(c.DERControlBase,
                                                                              capability.modesSupported))
    droop = m.FreqDroopType(dBOF=36, dBUF=36, kOF=40, kUF=40, openLoopTms=500)
    programs = [program("/derp/1", 10, b.control(A, T0, 600, m.DERControlBase(opModFreqDroop=droop)),
                        b.control(B, T0 + 1000, 600), default=b.default_control())]
    due = tracker.update(programs, NOW)
    assert sorted(statuses(due)) == [(A, 252), (B, 1)]
    assert tracker.decide(programs, T0).source == "default"
    assert tracker.update(programs, T0) == [] and tracker.update(programs, T0 + 600) == []
    response = next(d for d in due if d.status == R.REJECTED).resource(b.LFDI, NOW)
    assert (response.status, response.subject, response.endDeviceLFDI) == (252, A, b.LFDI)
    assert schemas.errors(codec.parse_document(codec.encode(response))) == []


def test_history_gets_no_responses():
    tracker = ResponseTracker(SEED)
    programs = [program("/derp/1", 10, b.control(A, NOW - 7200, 600), with_status(b.control(B, T0, 600), 2, NOW),
                        with_status(b.control(C, T0, 600), 4, NOW))]
    assert tracker.update(programs, NOW) == [] and tracker.update(programs, T0) == []
    assert tracker.state() == {A: "ignored", B: "ignored", C: "ignored"}


def test_response_required_decides_what_is_sent():
    tracker = ResponseTracker(SEED)
    programs = [program("/derp/1", 10, b.control(A, T0, 600, response_required="01"),
                        b.control(B, T0 + 1000, 600, response_required=None),
                        b.control(C, T0 + 2000, 600, reply_to=None))]
    assert statuses(tracker.update(programs, NOW)) == [(A, 1)]
    for t in (T0, T0 + 600, T0 + 1000, T0 + 1600, T0 + 2000, T0 + 2600):
        assert tracker.update(programs, t) == []
    assert tracker.state() == {A: [1, 2, 3], B: [1, 2, 3], C: [1, 2, 3]}  # the record still moves on


def test_an_event_deleted_before_its_end_counts_as_cancelled():
    tracker = ResponseTracker(SEED)
    tracker.update([program("/derp/1", 10, b.control(A, T0, 600))], NOW)
    assert statuses(tracker.update([program("/derp/1", 10)], NOW + 10)) == [(A, 6)]
    # but a program missing from the list (not fetched) is no evidence
    tracker.update([program("/derp/1", 10, b.control(B, T0, 600))], NOW)
    assert tracker.update([program("/derp/9", 10)], NOW + 20) == []


def test_state_survives_a_restart():
    programs = [program("/derp/1", 10, b.control(A, T0, 600))]
    first = ResponseTracker(SEED)
    first.update(programs, NOW)
    first.update(programs, T0)
    second = ResponseTracker(SEED, state=first.state())
    assert second.update(programs, T0 + 10) == []
    assert statuses(second.update(programs, T0 + 600)) == [(A, 3)]


def test_program_view_of_a_der_program():
    der_program = m.DERProgram(href="/derp/7", mRID=b.mrid(7), primacy=3)
    view = ProgramView.of(der_program, [b.control(A, T0, 600)], b.default_control())
    assert (view.key, view.primacy, len(view.controls)) == ("/derp/7", 3, 1)


@pytest.fixture(scope="module")
def schemas():
    return load_schemas("csip")
