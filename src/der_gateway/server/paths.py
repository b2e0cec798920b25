"""The resource paths this server serves (the standard's conventional names)."""

DCAP = "/dcap"
TIME = "/tm"
EDEV_LIST = "/edev"
MUP_LIST = "/mup"


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
