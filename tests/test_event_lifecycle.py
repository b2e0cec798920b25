"""The event lifecycle as plain logic: scheduling, activity, supersession, cancellation, primacy."""

from der_gateway.domain.events import (Event, ProgramEventStatus as P, Status, in_force, next_change, state_at,
                                       states_at, timeline)

MAX_W = frozenset({"opModMaxLimW"})
MAX_W_AND_VAR = frozenset({"opModMaxLimW", "opModFixedVar"})
CONNECT = frozenset({"opModConnect"})


def event(id, created, start, duration, modes=MAX_W, **kw) -> Event:
    return Event(id, created, start, duration, modes, **kw)


def test_scheduled_active_completed():
    e = event(1, created=100, start=200, duration=100)
    assert state_at(e, [e], 150) .status == Status.SCHEDULED
    s = state_at(e, [e], 200)
    assert (s.status, s.status_time, s.active, s.program_event_status) == (Status.ACTIVE, 200, True, P.IN_PROGRESS)
    done = state_at(e, [e], 300)
    assert (done.status, done.active, done.program_event_status) == (Status.ACTIVE, False, P.COMPLETED)
    assert next_change([e], 150) == 200 and next_change([e], 200) == 300 and next_change([e], 300) is None


def test_an_event_created_after_its_start_begins_active():
    e = event(1, created=250, start=200, duration=100)
    s = state_at(e, [e], 250)
    assert (s.status, s.status_time, s.active) == (Status.ACTIVE, 250, True)


def test_cancellation_is_final():
    e = event(1, created=100, start=200, duration=100, cancelled_at=150)
    for now in (150, 200, 250, 400):
        s = state_at(e, [e], now)
        assert (s.status, s.status_time, s.active, s.program_event_status) == (Status.CANCELLED, 150, False, P.CANCELED)
    assert state_at(e, [e], 120).status == Status.SCHEDULED
    r = event(2, created=100, start=200, duration=100, randomized=True, cancelled_at=250)
    assert state_at(r, [r], 240).active
    assert state_at(r, [r], 260).status == Status.CANCELLED_WITH_RANDOMIZATION


def test_newer_overlapping_event_supersedes_at_its_start():
    old = event(1, created=100, start=200, duration=200)  # 200..400
    new = event(2, created=150, start=300, duration=200)  # 300..500
    program = [old, new]
    assert state_at(old, program, 250).status == Status.ACTIVE
    s = state_at(old, program, 300)
    assert (s.status, s.status_time, s.active, s.program_event_status) == (
        Status.SUPERSEDED, 300, False, P.COMPLETED)
    assert state_at(new, program, 300).active
    assert next_change(program, 250) == 300


def test_supersession_before_the_older_starts():
    old = event(1, created=100, start=300, duration=100)
    new = event(2, created=150, start=250, duration=100)  # starts first, overlaps
    s = state_at(old, [old, new], 260)
    assert (s.status, s.program_event_status) == (Status.SUPERSEDED, P.CANCELED)


def test_no_supersession_without_overlap_or_from_older_events():
    a = event(1, created=100, start=200, duration=100)
    b = event(2, created=150, start=300, duration=100)  # adjacent, not overlapping
    assert state_at(a, [a, b], 299).status == Status.ACTIVE
    assert state_at(b, [a, b], 350).status == Status.ACTIVE
    older_later = event(3, created=50, start=250, duration=100)  # overlaps a but is older
    assert state_at(a, [a, older_later], 260).status == Status.ACTIVE
    assert state_at(older_later, [a, older_later], 260).status == Status.SUPERSEDED


def test_partial_mode_overlap_flags_potential_supersession():
    old = event(1, created=100, start=200, duration=200, modes=MAX_W_AND_VAR)
    new = event(2, created=150, start=300, duration=200, modes=MAX_W)
    s = state_at(old, [old, new], 350)
    assert s.status == Status.ACTIVE and s.potentially_superseded and s.potentially_superseded_time == 150
    assert not state_at(old, [old, new], 120).potentially_superseded
    disjoint = event(3, created=160, start=300, duration=200, modes=CONNECT)
    assert not state_at(new, [new, disjoint], 350).potentially_superseded
    assert state_at(new, [new, disjoint], 350).active and state_at(disjoint, [new, disjoint], 350).active


def test_a_newer_event_cancelled_before_it_starts_supersedes_nothing():
    old = event(1, created=100, start=200, duration=200)
    new = event(2, created=150, start=300, duration=200, cancelled_at=250)
    assert state_at(old, [old, new], 350).status == Status.ACTIVE


def test_cancelling_a_superseded_event_leaves_it_superseded():
    old = event(1, created=100, start=200, duration=200, cancelled_at=320)
    new = event(2, created=150, start=300, duration=200)
    assert state_at(old, [old, new], 330).status == Status.SUPERSEDED


def test_an_event_cancelled_in_the_second_a_newer_one_takes_effect_stays_cancelled():
    # S-ALL-41: cancelled at 500; a new active event made at 500 with its start a second earlier overlaps it
    old = event(1, created=100, start=800, duration=600, cancelled_at=500)
    new = event(2, created=500, start=499, duration=700)
    for now in (500, 501, 900):
        s = state_at(old, [old, new], now)
        assert (s.status, s.status_time, s.program_event_status) == (Status.CANCELLED, 500, P.CANCELED)
    assert states_at([old, new], 501)[1].status == Status.CANCELLED and states_at([old, new], 501)[2].active
    # a newer event made after the cancellation cannot supersede it either, whenever it starts
    later = event(3, created=600, start=450, duration=700)
    assert state_at(old, [old, later], 650).status == Status.CANCELLED


def test_states_at_covers_the_program():
    events = [event(1, 100, 200, 100), event(2, 110, 250, 100)]
    states = states_at(events, 260)
    assert states[1].status == Status.SUPERSEDED and states[2].active


def test_primacy_decides_across_programs():
    utility = event(1, created=100, start=200, duration=200)
    aggregator = event(2, created=150, start=200, duration=200)
    u, a = state_at(utility, [utility], 250), state_at(aggregator, [aggregator], 250)
    assert in_force([(1, utility, u), (5, aggregator, a)]) is utility
    assert in_force([(5, utility, u), (1, aggregator, a)]) is aggregator
    later = state_at(utility, [utility], 450)
    assert in_force([(1, utility, later), (5, aggregator, state_at(aggregator, [aggregator], 450))]) is None


def test_states_at_agrees_with_comparing_every_pair():
    import random

    rng = random.Random(7)
    modes = [MAX_W, MAX_W_AND_VAR, CONNECT]
    for _ in range(30):
        events = []
        for i in range(40):
            start = rng.randrange(0, 5000)
            cancelled = rng.choice([None, None, start + rng.randrange(-200, 400)])
            events.append(event(i, created=rng.randrange(0, 3000), start=start, duration=rng.randrange(1, 900),
                                modes=rng.choice(modes), cancelled_at=cancelled))
        for now in (0, 1000, 2500, 4000, 6000):
            assert states_at(events, now) == {e.id: state_at(e, events, now) for e in events}


def test_timeline_is_states_at_and_next_change_at_once():
    program = [event(1, created=100, start=200, duration=200), event(2, created=150, start=300, duration=200),
               event(3, created=160, start=250, duration=100, modes=MAX_W_AND_VAR, cancelled_at=280),
               event(4, created=500, start=450, duration=100, randomized=True)]
    for now in range(90, 620, 5):
        assert timeline(program, now) == (states_at(program, now), next_change(program, now))
    assert next_change(program, 270) == 280  # the cancellation
    assert next_change(program, 460) == 500  # a creation stamped later than now
