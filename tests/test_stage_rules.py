"""The stage state machine and the outcome rules, as plain logic."""

import pytest

from der_gateway.domain import outcomes as o
from der_gateway.domain import stages as s
from der_gateway.domain.events import Event, state_at


def test_each_status_is_reported_once_in_order():
    assert s.steps(None, s.SCHEDULED) == [s.SCHEDULED]
    assert s.steps(s.SCHEDULED, s.SCHEDULED) == []
    assert s.steps(s.SCHEDULED, s.IN_PROGRESS) == [s.IN_PROGRESS]
    assert s.steps(s.IN_PROGRESS, s.COMPLETED) == [s.COMPLETED]
    # steps missed while nobody looked are reported in order
    assert s.steps(s.SCHEDULED, s.COMPLETED) == [s.IN_PROGRESS, s.COMPLETED]
    assert s.steps(None, s.COMPLETED) == [s.SCHEDULED, s.IN_PROGRESS, s.COMPLETED]
    assert s.steps(None, s.CANCELED) == [s.SCHEDULED, s.CANCELED]
    assert s.steps(s.SCHEDULED, s.CANCELED) == [s.CANCELED]
    assert s.steps(s.IN_PROGRESS, s.CANCELED) == [s.CANCELED]
    assert s.steps(s.COMPLETED, s.COMPLETED) == [] and s.steps(s.CANCELED, s.CANCELED) == []
    for final, other in ((s.COMPLETED, s.CANCELED), (s.CANCELED, s.COMPLETED), (s.COMPLETED, s.IN_PROGRESS)):
        with pytest.raises(s.StageError):
            s.steps(final, other)
    with pytest.raises(s.StageError):
        s.steps(s.IN_PROGRESS, s.SCHEDULED)
    with pytest.raises(ValueError):
        s.steps(None, "DONE")


def test_a_stage_can_be_cancelled_until_it_ends():
    s.cancellable(s.SCHEDULED)
    s.cancellable(s.IN_PROGRESS)
    for final in (s.COMPLETED, s.CANCELED):
        with pytest.raises(s.StageError):
            s.cancellable(final)


def test_when_each_status_took_effect():
    e = Event(1, creation_time=100, start=200, duration=100, modes=frozenset({"opModMaxLimW"}))
    done = state_at(e, [e], 400)
    assert [s.effective_at(x, e, done) for x in (s.SCHEDULED, s.IN_PROGRESS, s.COMPLETED)] == [100, 200, 300]
    late = Event(2, creation_time=250, start=200, duration=100, modes=frozenset({"opModMaxLimW"}))
    assert s.effective_at(s.IN_PROGRESS, late, state_at(late, [late], 260)) == 250
    cancelled = Event(3, creation_time=100, start=200, duration=100, modes=frozenset({"x"}), cancelled_at=150)
    assert s.effective_at(s.CANCELED, cancelled, state_at(cancelled, [cancelled], 400)) == 150
    older = Event(4, creation_time=100, start=200, duration=200, modes=frozenset({"x"}))
    newer = Event(5, creation_time=150, start=300, duration=200, modes=frozenset({"x"}))
    superseded = state_at(older, [older, newer], 350)
    assert superseded.program_event_status == s.COMPLETED and s.effective_at(s.COMPLETED, older, superseded) == 300


def test_an_events_status_follows_its_stages():
    assert s.event_status([s.SCHEDULED, s.SCHEDULED]) == s.SCHEDULED
    assert s.event_status([s.IN_PROGRESS, s.SCHEDULED]) == s.IN_PROGRESS
    assert s.event_status([s.COMPLETED, s.SCHEDULED]) == s.IN_PROGRESS  # between stages
    assert s.event_status([s.CANCELED, s.SCHEDULED]) == s.SCHEDULED
    assert s.event_status([s.COMPLETED, s.CANCELED]) == s.COMPLETED
    assert s.event_status([s.CANCELED, s.CANCELED]) == s.CANCELED


def test_overlapping_stages_are_found():
    w = s.StageWindow
    assert s.overlapping([w(0, 100), w(100, 50), w(300, 10)]) == []
    assert s.overlapping([w(0, 100), w(99, 50), w(50, 10)]) == [(0, 1), (0, 2)]


def replies(*statuses: int) -> list[o.Reply]:
    return [o.Reply(st, 100 + i, 101 + i) for i, st in enumerate(statuses)]


@pytest.mark.parametrize("statuses, expected", [
    ((), o.NO_RESPONSE),
    ((1,), o.NO_RESPONSE),
    ((1, 11), o.NO_RESPONSE),
    ((1, 2), o.PARTICIPATED),
    ((1, 2, 3), o.PARTICIPATED),
    ((5,), o.PARTICIPATED),
    ((1, 4), o.OPTED_OUT),
    ((10,), o.OPTED_OUT),
    ((1, 8), o.PARTIALLY),
    ((9,), o.PARTIALLY),
    ((1, 2, 4), o.PARTIALLY),
    ((2, 13), o.PARTIALLY),
    ((1, 252), o.FAILED),
    ((253,), o.FAILED),
    ((254,), o.FAILED),
    ((12,), o.FAILED),
    ((14,), o.FAILED),
    ((1, 2, 254), o.FAILED),
    ((6,), o.NO_RESPONSE),
])
def test_outcome_rules(statuses, expected):
    assert o.outcome(replies(*statuses)) == expected


def test_a_stage_that_never_ran_has_cancelled_outcomes():
    assert o.outcome(replies(1, 2), ran=False) == o.CANCELLED
    assert o.tally([o.PARTICIPATED, o.PARTICIPATED, o.FAILED]) == {
        o.PARTICIPATED: 2, o.PARTIALLY: 0, o.OPTED_OUT: 0, o.FAILED: 1, o.NO_RESPONSE: 0, o.CANCELLED: 0}
