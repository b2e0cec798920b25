"""The resource paths this server serves (the standard's conventional names)."""

import re

DCAP = "/dcap"
TIME = "/tm"
EDEV_LIST = "/edev"
MUP_LIST = "/mup"
UPT_LIST = "/upt"


def edev(edev_id: int) -> str:
    return f"/edev/{edev_id}"


def registration(edev_id: int) -> str:
    return f"/edev/{edev_id}/rg"


def fsa_list(edev_id: int) -> str:
    return f"/edev/{edev_id}/fsa"


def der_list(edev_id: int) -> str:
    return f"/edev/{edev_id}/der"


def der(edev_id: int, n: int) -> str:
    return f"/edev/{edev_id}/der/{n}"


def der_document(edev_id: int, n: int, kind: str) -> str:
    return f"/edev/{edev_id}/der/{n}/{kind}"


def log_event_list(edev_id: int) -> str:
    return f"/edev/{edev_id}/lel"


def log_event(edev_id: int, log_id: int) -> str:
    return f"/edev/{edev_id}/lel/{log_id}"


def connection_point(edev_id: int) -> str:
    return f"/edev/{edev_id}/cp"


def mup(mup_id: int) -> str:
    return f"/mup/{mup_id}"


# The Metering function set's view of each mirror: MirrorUsagePoint n is UsagePoint n.
def usage_point(mup_id: int) -> str:
    return f"/upt/{mup_id}"


def meter_reading_list(mup_id: int) -> str:
    return f"/upt/{mup_id}/mr"


def meter_reading(mup_id: int, mr_id: int) -> str:
    return f"/upt/{mup_id}/mr/{mr_id}"


def reading_type(mup_id: int, mr_id: int) -> str:
    return f"/upt/{mup_id}/mr/{mr_id}/rt"


def latest_reading(mup_id: int, mr_id: int) -> str:
    """The MeterReading's ReadingLink: the Reading last posted alone (not in a set)."""
    return f"/upt/{mup_id}/mr/{mr_id}/r"


def reading_set_list(mup_id: int, mr_id: int) -> str:
    return f"/upt/{mup_id}/mr/{mr_id}/rs"


def reading_set(mup_id: int, mr_id: int, rs_id: int) -> str:
    return f"/upt/{mup_id}/mr/{mr_id}/rs/{rs_id}"


def reading_list(mup_id: int, mr_id: int, rs_id: int) -> str:
    return f"/upt/{mup_id}/mr/{mr_id}/rs/{rs_id}/r"


def reading(mup_id: int, mr_id: int, rs_id: int, reading_id: int) -> str:
    return f"/upt/{mup_id}/mr/{mr_id}/rs/{rs_id}/r/{reading_id}"


# CSIP-AUS: an aggregator's own EndDevice, which the server derives from its certificate and does not store.
# Each aggregator sees its own here; stored EndDevices are numbered from 1.
AGGREGATOR_EDEV_ID = 0


def subscription_list(edev_id: int | None) -> str:
    """None: the SubscriptionList of the caller's own aggregator EndDevice."""
    return f"/edev/{AGGREGATOR_EDEV_ID if edev_id is None else edev_id}/sub"


def subscription(edev_id: int | None, sub_id: int) -> str:
    return f"{subscription_list(edev_id)}/{sub_id}"


def fsa(group_id: int) -> str:
    return f"/fsa/{group_id}"


def program_list(group_id: int) -> str:
    return f"/fsa/{group_id}/derp"


def program(program_id: int) -> str:
    return f"/derp/{program_id}"


def control_list(program_id: int) -> str:
    return f"/derp/{program_id}/derc"


def control(program_id: int, control_id: int) -> str:
    return f"/derp/{program_id}/derc/{control_id}"


def active_control_list(program_id: int) -> str:
    return f"/derp/{program_id}/actderc"


def default_control(program_id: int) -> str:
    return f"/derp/{program_id}/dderc"


def curve_list(program_id: int) -> str:
    return f"/derp/{program_id}/dc"


def curve(program_id: int, curve_id: int) -> str:
    return f"/derp/{program_id}/dc/{curve_id}"


RESPONSE_SET_LIST = "/rsps"
DER_RESPONSE_SET = "/rsps/1"  # the one ResponseSet: responses to DER events
DER_RESPONSES = "/rsps/1/rsp"


def response(response_id: int) -> str:
    return f"/rsps/1/rsp/{response_id}"


def program_changes(program_id: int) -> list[str]:
    """What a change to a program's events touches."""
    return [control_list(program_id), active_control_list(program_id)]


# answers that change with the clock alone: Time, and anything showing event states
TIME_DEPENDENT = re.compile(r"^(/tm|/derp/[0-9]+(/derc(/[0-9]+)?|/actderc)?|/fsa/[0-9]+/derp)$")
