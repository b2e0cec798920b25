"""The device score and availability (domain/participation/score.py) against hand-computed answers."""

from __future__ import annotations

import pytest

from der_gateway.domain.participation.device_facts import DeviceFacts, device_facts
from der_gateway.domain.participation.score import (History, Score, ScoreInputs, ScorePolicy, Weights, classify,
                                                    ranked, score, unavailable_reasons)

NOW = 1_800_000_000


def facts(**overrides) -> DeviceFacts:
    values = dict(max_w=5000.0, max_charge_w=None, energy_wh=None, storage=False, connected=True, fault=False,
                  off=False, state_of_charge=None, status_time=NOW - 60, available_w=None, availability_time=None,
                  settings_time=None)
    values.update(overrides)
    return DeviceFacts(**values)


def test_documents_become_plain_watts_percents_and_flags():
    f = device_facts(
        {"type": 83, "modesSupported": "00", "rtgMaxW": {"value": 6, "multiplier": 3},
         "rtgMaxWh": {"value": 135, "multiplier": 2}, "rtgMaxChargeRateW": {"value": 50, "multiplier": 2}},
        {"setMaxW": {"value": 4000, "multiplier": 0}, "setGradW": 100, "updatedTime": NOW - 10},
        {"readingTime": NOW - 5, "genConnectStatus": {"dateTime": NOW - 5, "value": "05"},
         "stateOfChargeStatus": {"dateTime": NOW - 5, "value": 4550},
         "operationalModeStatus": {"dateTime": NOW - 5, "value": 2}},
        {"readingTime": NOW - 7, "statWAvail": {"value": 35, "multiplier": 2}})
    assert f == DeviceFacts(max_w=4000.0, max_charge_w=5000.0, energy_wh=13500.0, storage=True, connected=True,
                            fault=False, off=False, state_of_charge=45.5, status_time=NOW - 5, available_w=3500.0,
                            availability_time=NOW - 7, settings_time=NOW - 10)
    # the nameplate alone; a connect status with the fault bit and without the connected bit; an off inverter
    bare = device_facts({"type": 4, "modesSupported": "00", "rtgMaxW": {"value": 5000, "multiplier": 0}}, None,
                        {"readingTime": NOW, "genConnectStatus": {"dateTime": NOW, "value": "12"},
                         "operationalModeStatus": {"dateTime": NOW, "value": 1}}, None)
    assert (bare.max_w, bare.storage, bare.connected, bare.fault, bare.off) == (5000.0, False, False, True, True)
    assert device_facts(None, None, None, None).max_w is None


@pytest.mark.parametrize("statuses, outcome", [
    ((3,), "participated"), ((1, 2, 3), "participated"), ((5,), "participated"), ((9,), "participated"),
    ((4,), "declined"), ((1, 2, 8), "declined"), ((10,), "declined"), ((252,), "declined"), ((2, 4), "declined"),
    ((6,), "excused"), ((1, 7), "excused"), ((13,), "excused"),
    ((1,), "acknowledged"), ((11,), "acknowledged"), ((), "silent"),
])
def test_each_event_is_classed_by_the_statuses_sent(statuses, outcome):
    assert classify(statuses) == outcome


def test_a_score_by_hand():
    # capacity 5000/10000 = 0.5; availability statWAvail 4000/5000 = 0.8
    # events: two participated, one declined, one silent, one excused (not counted): 4 counted
    #   participation 2/4 = 0.5; opt-outs 1 - 1/4 = 0.75
    # last contact 7200 s ago: freshness 1 - (7200 - 3600)/(86400 - 3600) = 0.956522; response rate 3/4
    #   communication (0.956522 + 0.75)/2 = 0.853261
    # 25*0.5 + 25*0.8 + 20*0.5 + 15*0.75 + 15*0.853261 = 66.548913
    inputs = ScoreInputs(NOW, True, facts(available_w=4000.0, availability_time=NOW - 100), NOW - 7200,
                         History(((3,), (1, 2, 3), (4,), (), (6,))))
    result = score(inputs, ScorePolicy())
    assert result.score == 66.55 and result.available and result.reasons == ()
    assert result.components == {"capacity": 0.5, "availability": 0.8, "participation": 0.5, "opt_outs": 0.75,
                                 "communication": 0.8533}
    assert result.events == {"counted": 4, "participated": 2, "declined": 1, "acknowledged": 0, "silent": 1}


def test_weights_are_configuration():
    inputs = ScoreInputs(NOW, True, facts(max_w=2500.0), NOW, History(((3,),)))
    # capacity alone: 2500/10000
    only_capacity = ScorePolicy(Weights(1, 0, 0, 0, 0))
    assert score(inputs, only_capacity).score == 25.0
    # participation (1) and opt-outs (1), 3:1
    assert score(inputs, ScorePolicy(Weights(1, 0, 3, 0, 0))).score == 81.25
    assert score(inputs, ScorePolicy(Weights(0, 0, 0, 0, 0))).score == 0.0
    with pytest.raises(ValueError, match="opt_outs"):
        Weights(opt_outs=-1)
    with pytest.raises(ValueError, match="fresh < lost"):
        ScorePolicy(contact_fresh=100, contact_lost=50)


def test_without_history_or_status_the_score_is_neutral():
    # no status known: availability 0.5; no event: participation 0.5, opt-outs 1, response rate 1; contact now
    inputs = ScoreInputs(NOW, True, facts(connected=None, status_time=None), NOW)
    result = score(inputs, ScorePolicy())
    assert result.components == {"capacity": 0.5, "availability": 0.5, "participation": 0.5, "opt_outs": 1.0,
                                 "communication": 1.0}
    assert result.score == 25 * 0.5 + 25 * 0.5 + 20 * 0.5 + 15 + 15


def test_storage_availability_is_its_state_of_charge_and_a_stale_status_is_not_believed():
    fresh = ScoreInputs(NOW, True, facts(storage=True, state_of_charge=64.0), NOW)
    assert score(fresh, ScorePolicy()).components["availability"] == 0.64
    stale = ScoreInputs(NOW, True, facts(storage=True, state_of_charge=5.0, connected=False,
                                         status_time=NOW - 90_000), NOW)
    assert score(stale, ScorePolicy()).components["availability"] == 0.5
    assert unavailable_reasons(stale, ScorePolicy()) == ()


def test_each_reason_a_device_is_unavailable():
    policy = ScorePolicy(min_state_of_charge=20)
    inputs = ScoreInputs(NOW, False, facts(max_w=None, connected=False, fault=True, off=True, storage=True,
                                           state_of_charge=12.5, available_w=0.0, availability_time=NOW), None)
    result = score(inputs, policy)
    assert not result.available
    assert result.reasons == (
        "its EndDevice is disabled", "the server has never heard from it",
        "no DERCapability rtgMaxW or DERSettings setMaxW: nothing to dispatch", "DERStatus: disconnected",
        "DERStatus: in fault", "DERStatus: off", "DERStatus: state of charge 12.5% is below 20%",
        "DERAvailability: no watts available (statWAvail 0)")
    zero = device_facts({"type": 4, "modesSupported": "00", "rtgMaxW": {"value": 5000, "multiplier": 0}},
                        {"setMaxW": {"value": 0, "multiplier": 0}, "setGradW": 1, "updatedTime": NOW}, None, None)
    assert unavailable_reasons(ScoreInputs(NOW, True, zero, NOW), policy) == (
        "its maximum power (setMaxW, else rtgMaxW) is 0 W: nothing to dispatch",)
    silent = ScoreInputs(NOW, True, facts(), NOW - 86_400)
    assert unavailable_reasons(silent, policy) == (f"no contact for 86400 s (since {NOW - 86_400})",)
    assert score(silent, policy).components["communication"] == 0.5  # freshness 0, no event: response rate 1


def test_ranked_puts_available_devices_first_then_the_best():
    def s(value: float, available: bool) -> Score:
        return Score(value, available, () if available else ("x",), {}, {})
    order = ranked([(1, s(90, False)), (2, s(50, True)), (3, s(70, True)), (4, s(70, True))])
    assert [i for i, _ in order] == [3, 4, 2, 1]


@pytest.mark.parametrize("setting, message", [
    ({"score_weight_opt_outs": -1}, "opt_outs"), ({"score_contact_fresh": 90_000}, "fresh < lost"),
    ({"score_capacity_reference_w": 0}, "reference"), ({"score_min_state_of_charge": 120}, "percent"),
    ({"score_interval": -5}, "score_interval"), ({"forecast_days": 0}, "forecast_days"),
    ({"timezone": "Mars/Olympus"}, "Mars"),
])
def test_settings_that_cannot_work_stop_the_server_at_start(setting, message):
    from der_gateway.config import Config
    from der_gateway.services.participation import ScoreDuty, check_settings
    check_settings(Config())
    with pytest.raises(Exception, match=message):
        check_settings(Config(**setting))
    with pytest.raises(Exception, match=message):
        ScoreDuty(None, Config(**setting), None)  # type: ignore[arg-type]
