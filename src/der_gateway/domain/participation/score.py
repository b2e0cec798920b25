"""A device's score (0-100) and availability flag for a program, from what the server knows of it.

Inputs (ScoreInputs): the device's DER documents (device_facts.DeviceFacts: nameplate and settings,
DERStatus, DERAvailability), whether its EndDevice is enabled, when the server last heard from it, and its
record in the program's recent events (History: for each event that ended within the look-back, the Response
statuses it sent).

Each event is classed by the statuses the device sent for it (Response status, IEEE 2030.5 Table 27):
  participated: 2 started, 3 completed, 5 opted in, 9 partially completed with opt-in;
  declined:     4 opted out, 8 partially completed with opt-out, 10 completed without participation,
                12 cannot be displayed, 252-254 rejected;
  excused:      6 cancelled, 7 superseded, 13/14 aborted for another server's or program's event (the event is
                not counted);
  acknowledged: only 1 received or 11 acknowledged (it answered, but never said it took part);
  silent:       no Response at all.
A declining status outweighs a participating one sent for the same event.

The score is 100 x sum(weight_i x s_i) / sum(weight_i), each component s_i in [0, 1]:
  capacity       min(1, max_w / capacity_reference_w); max_w is setMaxW, else rtgMaxW; 0 when unknown.
  availability   statWAvail / max_w (DERAvailability) if known; else state of charge / 100 for storage;
                 else 1 if its DERStatus says connected (0 if not); 0.5 when nothing is known.
  participation  participated / counted events; 0.5 with no counted event (no history yet).
  opt_outs       1 - declined / counted events; 1 with no counted event.
  communication  (freshness + response rate) / 2: freshness is 1 up to contact_fresh seconds since the last
                 contact, falling linearly to 0 at contact_lost (0 if never heard from); response rate is
                 (counted events with any Response) / counted events, 1 with none.
A component whose weight is 0 drops out; all weights 0 scores every device 0.

The device is unavailable, with each reason given, when: its EndDevice is disabled; the server has not heard
from it for contact_lost seconds (or never); its maximum power (setMaxW, else rtgMaxW) is unknown or 0; its
DERStatus (if not older than contact_lost) says disconnected, in fault or off; its DERAvailability (same age
rule) offers 0 W; or, for storage, its state of charge is below min_state_of_charge percent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from .device_facts import DeviceFacts

PARTICIPATED = frozenset({2, 3, 5, 9})
DECLINED = frozenset({4, 8, 10, 12, 252, 253, 254})
EXCUSED = frozenset({6, 7, 13, 14})


@dataclass(frozen=True)
class Weights:
    capacity: float = 25.0
    availability: float = 25.0
    participation: float = 20.0
    opt_outs: float = 15.0
    communication: float = 15.0

    def __post_init__(self) -> None:
        for name, value in self.items():
            if not value >= 0:
                raise ValueError(f"score weight {name} must be a number of at least 0, not {value!r}")

    def items(self) -> list[tuple[str, float]]:
        return [("capacity", self.capacity), ("availability", self.availability),
                ("participation", self.participation), ("opt_outs", self.opt_outs),
                ("communication", self.communication)]


@dataclass(frozen=True)
class ScorePolicy:
    weights: Weights = field(default_factory=Weights)
    capacity_reference_w: float = 10_000.0
    contact_fresh: int = 3600  # seconds
    contact_lost: int = 86_400  # seconds
    min_state_of_charge: float = 20.0  # percent

    def __post_init__(self) -> None:
        if not self.capacity_reference_w > 0:
            raise ValueError("score capacity reference must be more than 0 W")
        if not 0 <= self.contact_fresh < self.contact_lost:
            raise ValueError("score contact thresholds: need 0 <= fresh < lost")
        if not 0 <= self.min_state_of_charge <= 100:
            raise ValueError("score minimum state of charge must be a percent (0-100)")


@dataclass(frozen=True)
class History:
    """The statuses the device sent for each of the program's events it is counted for, one tuple per event."""

    events: tuple[tuple[int, ...], ...] = ()


@dataclass(frozen=True)
class ScoreInputs:
    now: int
    enabled: bool
    facts: DeviceFacts
    last_contact: int | None
    history: History = History()


@dataclass(frozen=True)
class Score:
    score: float  # 0-100, two decimals
    available: bool
    reasons: tuple[str, ...]  # why it is unavailable; empty when available
    components: dict[str, float]  # each component in [0, 1], by name
    events: dict[str, int]  # counted, participated, declined, acknowledged, silent


def classify(statuses: Iterable[int]) -> str:
    """One event's outcome for a device from the Response statuses it sent for it."""
    sent = set(statuses)
    if sent & DECLINED:
        return "declined"
    if sent & PARTICIPATED:
        return "participated"
    if sent & EXCUSED:
        return "excused"
    return "acknowledged" if sent else "silent"


def _tally(history: History) -> dict[str, int]:
    counts = {"counted": 0, "participated": 0, "declined": 0, "acknowledged": 0, "silent": 0}
    for statuses in history.events:
        outcome = classify(statuses)
        if outcome != "excused":
            counts["counted"] += 1
            counts[outcome] += 1
    return counts


def _fresh(at: int | None, now: int, policy: ScorePolicy) -> bool:
    return at is not None and now - at < policy.contact_lost


def _freshness(last_contact: int | None, now: int, policy: ScorePolicy) -> float:
    if last_contact is None:
        return 0.0
    age = max(0, now - last_contact)
    if age <= policy.contact_fresh:
        return 1.0
    if age >= policy.contact_lost:
        return 0.0
    return 1.0 - (age - policy.contact_fresh) / (policy.contact_lost - policy.contact_fresh)


def _availability(inputs: ScoreInputs, policy: ScorePolicy) -> float:
    f = inputs.facts
    if f.available_w is not None and f.max_w and _fresh(f.availability_time, inputs.now, policy):
        return min(1.0, max(0.0, f.available_w / f.max_w))
    if f.storage and f.state_of_charge is not None and _fresh(f.status_time, inputs.now, policy):
        return min(1.0, max(0.0, f.state_of_charge / 100))
    if f.connected is not None and _fresh(f.status_time, inputs.now, policy):
        return 1.0 if f.connected and not f.fault and not f.off else 0.0
    return 0.5


def unavailable_reasons(inputs: ScoreInputs, policy: ScorePolicy) -> tuple[str, ...]:
    f, now = inputs.facts, inputs.now
    reasons = []
    if not inputs.enabled:
        reasons.append("its EndDevice is disabled")
    if inputs.last_contact is None:
        reasons.append("the server has never heard from it")
    elif now - inputs.last_contact >= policy.contact_lost:
        reasons.append(f"no contact for {now - inputs.last_contact} s (since {inputs.last_contact})")
    if f.max_w is None:
        reasons.append("no DERCapability rtgMaxW or DERSettings setMaxW: nothing to dispatch")
    elif f.max_w <= 0:
        reasons.append("its maximum power (setMaxW, else rtgMaxW) is 0 W: nothing to dispatch")
    if _fresh(f.status_time, now, policy):
        if f.connected is False:
            reasons.append("DERStatus: disconnected")
        if f.fault:
            reasons.append("DERStatus: in fault")
        if f.off:
            reasons.append("DERStatus: off")
        if f.storage and f.state_of_charge is not None and f.state_of_charge < policy.min_state_of_charge:
            reasons.append(f"DERStatus: state of charge {f.state_of_charge:g}% is below "
                           f"{policy.min_state_of_charge:g}%")
    if f.available_w is not None and f.available_w <= 0 and _fresh(f.availability_time, now, policy):
        reasons.append("DERAvailability: no watts available (statWAvail 0)")
    return tuple(reasons)


def score(inputs: ScoreInputs, policy: ScorePolicy) -> Score:
    counts = _tally(inputs.history)
    counted = counts["counted"]
    f = inputs.facts
    components = {
        "capacity": min(1.0, max(0.0, (f.max_w or 0.0) / policy.capacity_reference_w)),
        "availability": _availability(inputs, policy),
        "participation": counts["participated"] / counted if counted else 0.5,
        "opt_outs": 1.0 - counts["declined"] / counted if counted else 1.0,
        "communication": (_freshness(inputs.last_contact, inputs.now, policy)
                          + ((counted - counts["silent"]) / counted if counted else 1.0)) / 2,
    }
    weights = dict(policy.weights.items())
    total = sum(weights.values())
    value = 100 * sum(weights[k] * components[k] for k in components) / total if total else 0.0
    reasons = unavailable_reasons(inputs, policy)
    return Score(round(value, 2), not reasons, reasons, {k: round(v, 4) for k, v in components.items()}, counts)


def ranked(scores: Sequence[tuple[int, Score]]) -> list[tuple[int, Score]]:
    """(device id, score) best first: available ones first, then by score, then by id (stable)."""
    return sorted(scores, key=lambda item: (not item[1].available, -item[1].score, item[0]))
