"""Ids in paths and list queries are ASCII decimal digits within their ranges; nothing else names a
resource, and a reason holding a control character is escaped, never a dropped connection."""

from __future__ import annotations

import re

import pytest

from der_gateway.admin.app import ROUTES as ADMIN_ROUTES
from der_gateway.domain.numerals import decimal, identifier

from . import documents
from .test_admin_api import admin, make_admin  # noqa: F401  (fixtures)

HUGE = "9" * 5000  # beyond Python's 4,300-digit int() limit


@pytest.mark.parametrize("text", ["²", "①", "１", "1_0", "+1", "-1", " 1", "1 ", "", "0x1", "١"])
def test_only_ascii_digits_are_numbers(text):
    assert decimal(text, 10**9) is None
    assert identifier(text) is None


def test_ranges_and_leading_zeros():
    assert decimal("0" * 5000 + "7", 10) == 7
    assert decimal(HUGE, 2**32 - 1) is None
    assert decimal("4294967295", 2**32 - 1) == 2**32 - 1
    assert decimal("4294967296", 2**32 - 1) is None
    assert decimal("0", 5, minimum=1) is None
    assert identifier("0") == 0 and identifier("12") == 12
    assert identifier("012") is None  # an alias of 12: not a name this server gives
    assert identifier("9" * 19) is None  # beyond int64


@pytest.fixture
async def registered(harness, identities):
    device = harness.client("device1")
    edev = (await device.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
    assert edev == "/edev/1"
    await device.post(f"{edev}/lel", documents.log_event(1, 1700000000))
    return device


@pytest.mark.parametrize("path", [
    "/edev/%C2%B2", "/edev/%EF%BC%91", "/edev/01", "/edev/%D9%A1", f"/edev/{HUGE}",
    "/edev/%C2%B2/der", "/edev/1/der/%C2%B2", "/edev/1/lel/%EF%BC%91", "/derp/%C2%B2/derc", "/mup/%C2%B2",
    "/edev/1/fsa/%C2%B2", "/edev/1/rsp/%EF%BC%91",
])
async def test_a_path_id_is_ascii_digits_only(harness, registered, path):
    reply = await registered.get(path)
    assert reply.status == 404, (path, reply.status, reply.reason)
    assert reply.reason.isascii() and reply.headers["X-Reason"] == reply.reason


@pytest.mark.parametrize("query", ["s=%C2%B2", "l=%E2%91%A0", "a=%EF%BC%91", f"l={HUGE}", f"s={HUGE}", f"a={HUGE}",
                                   "l=-1", "s=1.0", "l=%201"])
async def test_a_list_query_is_ascii_digits_in_range(harness, registered, query):
    for path in ("/edev", "/edev/1/lel", "/edev/1/der", "/edev/1/fsa"):
        reply = await registered.get(f"{path}?{query}")
        assert reply.status == 400, (path, query, reply.status)
        assert "query parameter" in reply.reason


async def test_leading_zeros_in_a_query_value_read_as_the_number(harness, registered):
    reply = await registered.get("/edev/1/lel?l=" + "0" * 5000 + "1")
    assert reply.status == 200 and reply.element.get("results") == "1"


@pytest.mark.parametrize("raw", ["%00", "%01", "%7F", "%1B%5B31m"])
async def test_a_control_character_in_the_path_is_escaped_in_the_reason(harness, registered, raw):
    reply = await registered.get(f"/edev/1{raw}")
    assert reply.status == 404
    assert "\\x" in reply.reason and reply.headers["X-Reason"] == reply.reason
    assert all(0x20 <= ord(c) < 0x7f for c in reply.reason)


async def test_a_control_character_in_a_field_value_is_escaped_in_the_reason(harness, registered):
    body = documents.log_event(2, 1700000000).replace(b"<logEventCode>1<", b"<logEventCode>1\x7f<")
    reply = await registered.post("/edev/1/lel", body)
    assert reply.status == 400 and "\\x7f" in reply.reason
    assert (await registered.get("/edev/1/lel?l=10")).element.get("all") == "1"  # nothing was written


async def test_the_admin_api_takes_ascii_ids_only(admin):  # noqa: F811
    customer = await admin.ok("POST", "/customers", {"externalId": "C-1", "name": "Ada"}, 201)
    assert customer["id"] == 1
    for path in ("/customers/%EF%BC%91", "/customers/%C2%B9", "/customers/01", f"/customers/{HUGE}"):
        answer = await admin.call("DELETE", path)
        assert answer.status == 404, (path, answer.status, answer.body)
    assert (await admin.call("GET", "/customers/1")).status == 200
    for query in (f"limit={HUGE}", "limit=%C2%B2", f"after={HUGE}", "endpoint=%EF%BC%91"):
        answer = await admin.call("GET", f"/sync/messages?{query}")
        assert answer.status == 400, (query, answer.status, answer.body)
    answer = await admin.call("GET", "/enrollments?derAssetId=%C2%B2")
    assert answer.status == 400
    assert (await admin.call("GET", "/sync/messages?limit=" + "0" * 5000 + "5")).status == 200


ODD_IDS = ["%C2%B2", "%EF%BC%91", "01", "-1", HUGE, "1%00", "%7F", "1%0D%0AX-Evil:%201", "%FF", "..", "1.0"]


@pytest.mark.parametrize("caller", ["device1", "aggregator"])
async def test_no_route_answers_an_odd_id_with_a_server_error(harness, registered, caller):
    """Every route with a variable part, each variable replaced by each odd value, with every method
    the route serves: a 4xx with a reason, never a 5xx or a dropped connection."""
    app = harness.server.runner.app
    client = registered if caller == "device1" else harness.client(caller)
    checked = 0
    for resource in app.router.resources():
        info = resource.get_info()
        template = info.get("formatter")
        if not template:
            continue
        names = [part[1:-1] for part in template.split("/") if part.startswith("{")]
        methods = {route.method for route in resource}
        for name in names:
            for odd in ODD_IDS:
                path = template
                for other in names:
                    path = path.replace("{" + other + "}", odd if other == name else "1")
                for method in methods - {"HEAD"}:
                    body = documents.log_event(9, 1700000000) if method in ("POST", "PUT") else None
                    reply = await client.request(method, path, body)
                    assert 400 <= reply.status < 500, (method, path, reply.status, reply.reason)
                    if reply.headers.get("Content-Type", "").startswith("application/json"):  # the aggregator API
                        assert b'"reason"' in reply.body
                    else:
                        assert reply.reason and reply.headers.get("X-Reason") == reply.reason
                    checked += 1
    assert checked > 300


async def test_no_admin_route_answers_an_odd_id_with_a_server_error(admin):  # noqa: F811
    checked = 0
    for route in ADMIN_ROUTES:
        method, template = route.method, route.path
        names = [part[1:].split(":")[0].rstrip("}") for part in template.split("/") if part.startswith("{")]
        for name in names:
            for odd in ODD_IDS:
                path = re.sub(r"\{([a-z_]+)(:[^}]*)?\}", lambda m: odd if m.group(1) == name else "1", template)
                answer = await admin.call(method, path, {} if method in ("POST", "PUT", "PATCH") else None,
                                          encoded=True)
                assert 400 <= answer.status < 500, (method, path, answer.status, answer.body)
                checked += 1
    assert checked > 300
