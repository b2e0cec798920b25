"""Which devices a stage reserves (domain/participation/reservation.py), against answers worked out by hand."""

from __future__ import annotations

from der_gateway.domain.participation.reservation import Candidate, reserve


def c(edev: int, score: float, forecast_w: float, available: bool = True, *reasons: str) -> Candidate:
    return Candidate(edev, score, available, tuple(reasons), forecast_w)


FLEET = [c(1, 60, 3000), c(2, 90, 2000), c(3, 75, 4000), c(4, 95, 1500, False, "disconnected"), c(5, 75, 5000)]


def test_best_score_first_until_the_forecast_meets_the_target():
    # ranked: 2 (90), 5 (75, 5000 W before 3's 4000 W), 3 (75), 1 (60); 4 is unavailable
    r = reserve(FLEET, 6500)
    assert r.reserved == [2, 5]  # 2000 + 5000 = 7000 >= 6500
    assert r.forecast_w == 7000 and r.met
    by = {d.end_device_id: d for d in r.decisions}
    assert by[3].reason == "not needed: the target of 6500 W was met" and not by[3].reserved
    assert by[4].reason == "unavailable: disconnected" and not by[4].reserved
    assert by[2].reason == "score 90, forecast 2000 W (2000 of 6500 W)"
    assert [d.end_device_id for d in r.decisions] == [2, 5, 3, 1, 4]


def test_a_target_beyond_the_fleet_reserves_every_available_device_and_says_it_is_not_met():
    r = reserve(FLEET, 20000)
    assert sorted(r.reserved) == [1, 2, 3, 5]
    assert r.forecast_w == 14000 and not r.met


def test_without_a_target_every_eligible_device_is_called():
    r = reserve(FLEET, None)
    assert sorted(r.reserved) == [1, 2, 3, 4, 5] and r.met and r.forecast_w == 15500
    by = {d.end_device_id: d.reason for d in r.decisions}
    assert by[2] == "no target: every eligible device is called"
    assert by[4] == "no target: every eligible device is called (unavailable: disconnected)"


def test_a_device_that_cannot_help_is_passed_over_while_a_target_is_met():
    r = reserve([c(1, 99, 0), c(2, 80, -500), c(3, 50, 1000)], 800)
    assert r.reserved == [3]
    assert {d.end_device_id: d.reason for d in r.decisions if not d.reserved} == {
        1: "no forecast toward the target for this stage (0 W)",
        2: "no forecast toward the target for this stage (-500 W)"}


def test_ties_go_to_the_larger_forecast_then_the_lower_id():
    r = reserve([c(7, 50, 1000), c(3, 50, 1000), c(9, 50, 2000)], 2500)
    assert r.reserved == [9, 3]


def test_a_negative_target_adds_load_from_the_devices_forecast_to_add_it():
    # curtailing generation: each device's forecast reduction is negative (it adds load)
    fleet = [c(1, 80, -3000), c(2, 90, -1000), c(3, 85, 2000), c(4, 70, -4000)]
    r = reserve(fleet, -3500)
    assert r.reserved == [2, 1]  # 90 then 80 (3 would take load off: passed over); -1000 - 3000 <= -3500
    assert r.forecast_w == -4000 and r.met
    by = {d.end_device_id: d.reason for d in r.decisions}
    assert by[3] == "no forecast toward the target for this stage (2000 W)"
    assert by[4] == "not needed: the target of -3500 W was met"
    assert not reserve(fleet, -9000).met
