"""The operator's side of the inbound operations (see inbound.py) and what follows them: service
tasks, enrollments and DER assets (with unenrollment and replacement)."""

from __future__ import annotations

from aiohttp import web

from ..domain.utility import Caller, problem, requests, tasks
from ..domain.utility.fields import F, check
from ..refusal_status import status_of_outcome
from ..services import service_tasks
from ..services import utility_json as render
from ..services.inbound import INTERCONNECT, REGISTER, idempotency, inbound, sep_checker
from ..services.utility_json import created_text
from ..store.utility_records import Created, Replayed
from .http import JSON, found, invalid, json_response, path_id, read_json, read_query
from .state import CLOCK, CONFIG, SCHEMAS, STORE
from .routing import Answer, FieldsBody, Query, Route


def inbound_response(outcome: Created | Replayed) -> web.Response:
    """What an inbound operation created, or the first answer to a repeated request, as it was."""
    return web.Response(text=render.answer_text(outcome), status=status_of_outcome(outcome.outcome),
                        content_type=JSON)


async def _admin_inbound(request: web.Request, operation: str) -> web.Response:
    body = await read_json(request)
    idem = idempotency(request.headers, "admin", operation, body)
    return inbound_response(await inbound(request.app[STORE], request.app[SCHEMAS], request.app[CONFIG].issuer,
                                          request.app[CLOCK].now(), operation, body, Caller("admin"), idem))


async def register_der_device(request: web.Request) -> web.Response:
    return await _admin_inbound(request, REGISTER)


async def interconnect_der(request: web.Request) -> web.Response:
    return await _admin_inbound(request, INTERCONNECT)


# -- service tasks -------------------------------------------------------------------------------------

async def _task_id(request: web.Request) -> int:
    task_id = path_id(request, "task_id", "service task")
    await found(await request.app[STORE].service_task(task_id), f"service task {task_id}")
    return task_id


TASKS_QUERY = (Query("state", "only tasks in this state", choices=tasks.STATES),
               Query("kind", "only tasks of this kind", choices=tasks.KINDS))
ENROLLMENTS_QUERY = (Query("derAssetId", "only this DER asset's enrollments", int),
                     Query("programId", "only enrollments in this program", int),
                     Query("status", "only enrollments with this status",
                           choices=("Pending", "Enrolled", "Error", "Cancelled", "Unenrolled")))
ASSETS_QUERY = (Query("status", "only assets with this status", choices=("active", "retired")),)


async def list_service_tasks(request: web.Request) -> web.Response:
    query = read_query(request, TASKS_QUERY)
    found = await request.app[STORE].service_tasks(query.get("state"), query.get("kind"))
    return json_response({"items": [render.service_task(t) for t in found]})


async def get_service_task(request: web.Request) -> web.Response:
    task_id = path_id(request, "task_id", "service task")
    task = await found(await request.app[STORE].service_task(task_id), f"service task {task_id}")
    return json_response(render.service_task(task))


async def process_service_task(request: web.Request) -> web.Response:
    task_id = await _task_id(request)
    app = request.app
    return json_response(render.service_task(await service_tasks.process(app[STORE], app[CONFIG], app[CLOCK],
                                                                         task_id)))


APPROVAL = {"reason": F("str", max_length=2000)}
REJECTION = {"reason": F("str", required=True, max_length=2000)}
ENROLLMENT = {"program": F("ref", required=True)}


async def _decision(request: web.Request, approved: bool) -> web.Response:
    task_id = await _task_id(request)
    body = await read_json(request) if request.can_read_body else {}
    values, errors = check(body, APPROVAL if approved else REJECTION)
    if errors:
        raise invalid(errors)
    app = request.app
    task = await app[STORE].decide_interconnection(task_id, approved, values.get("reason"), app[CLOCK].now())
    if approved:  # engineering's approval is what it waited for: complete it now
        task = await service_tasks.process(app[STORE], app[CONFIG], app[CLOCK], task_id)
    return json_response(render.service_task(task))


async def approve_service_task(request: web.Request) -> web.Response:
    return await _decision(request, True)


async def reject_service_task(request: web.Request) -> web.Response:
    return await _decision(request, False)


async def cancel_service_task(request: web.Request) -> web.Response:
    task_id = await _task_id(request)
    return json_response(render.service_task(await request.app[STORE].cancel_service_task(task_id,
                                                                                      request.app[CLOCK].now())))


# -- enrollments and DER assets --------------------------------------------------------------------------

async def list_enrollments(request: web.Request) -> web.Response:
    query = read_query(request, ENROLLMENTS_QUERY)
    return json_response({"items": [render.enrollment(e) for e in await request.app[STORE].enrollments(
        query.get("derAssetId"), query.get("programId"), query.get("status"))]})


async def _enrollment_id(request: web.Request) -> int:
    enrollment_id = path_id(request, "enrollment_id", "enrollment")
    await found(await request.app[STORE].enrollment(enrollment_id), f"enrollment {enrollment_id}")
    return enrollment_id


async def get_enrollment(request: web.Request) -> web.Response:
    enrollment_id = path_id(request, "enrollment_id", "enrollment")
    return json_response(render.enrollment(await found(await request.app[STORE].enrollment(enrollment_id),
                                                       f"enrollment {enrollment_id}")))


async def unenroll(request: web.Request) -> web.Response:
    enrollment_id = await _enrollment_id(request)
    body = await read_json(request) if request.can_read_body else {}
    if body:
        raise invalid([problem("unknown field", key) for key in body])
    idem = idempotency(request.headers, "admin", f"unenroll/{enrollment_id}", body)
    return inbound_response(await request.app[STORE].request_unenroll(enrollment_id, request.app[CLOCK].now(), idem,
                                                                      keep=created_text))


async def list_der_assets(request: web.Request) -> web.Response:
    return json_response({"items": [render.der_asset(a)
                                    for a in await request.app[STORE].der_assets(
                                        read_query(request, ASSETS_QUERY).get("status"))]})


async def _asset_id(request: web.Request) -> int:
    asset_id = path_id(request, "der_asset_id", "DER asset")
    await found(await request.app[STORE].der_asset(asset_id), f"DER asset {asset_id}")
    return asset_id


async def get_der_asset(request: web.Request) -> web.Response:
    asset_id = path_id(request, "der_asset_id", "DER asset")
    return json_response(render.der_asset(await found(await request.app[STORE].der_asset(asset_id),
                                                      f"DER asset {asset_id}")))


async def replace_der_asset(request: web.Request) -> web.Response:
    asset_id = await _asset_id(request)
    body = await read_json(request)
    idem = idempotency(request.headers, "admin", f"replace/{asset_id}", body)
    store, now = request.app[STORE], request.app[CLOCK].now()
    if idem is not None and (kept := await store.idempotent_answer(idem)) is not None:
        return inbound_response(kept)
    req, errors = requests.parse_replace(body, sep_checker(request.app[SCHEMAS]), now)
    if req is None:
        raise invalid(errors)
    return inbound_response(await store.request_replace(asset_id, req, now, idem, errors, keep=created_text))


async def enroll_der_asset(request: web.Request) -> web.Response:
    asset_id = await _asset_id(request)
    body = await read_json(request)
    values, errors = check(body, ENROLLMENT)
    if errors:
        raise invalid(errors)
    idem = idempotency(request.headers, "admin", f"enroll/{asset_id}", body)
    return inbound_response(await request.app[STORE].enroll_der_asset(asset_id, values["program"],
                                                                      request.app[CLOCK].now(), idem, keep=created_text))


# the device's 2030.5 parts, as openapi.py describes them from sep.model
DEVICE_PARTS = {"nameplate": "DERCapabilityInput", "settings": "DERSettingsInput"}

ROUTES: tuple[Route, ...] = (
    Route("POST", "/registerDERDevice", register_der_device,
          "Register a customer's DER and enroll it (registerDERDevice)",
          {201: Answer("the DER asset, its EndDevice (disabled until enrolled), the enrollment and its Pending "
                       "enroll task", "Registration")},
          body=FieldsBody(requests.REGISTER, {"device": "DeviceInput"}),
          errors={409: "Idempotency-Key reused with another body"},
          description="Checked against the customer and service point, the catalog (model, nameplate within its "
                      "spec, the asset type's DERType), the aggregator, the program's eligibility (and tariff), "
                      "and the DER registration flag (an approved interconnection). Every problem comes back at "
                      "once, each naming its rule; nothing is created. Takes an optional Idempotency-Key header "
                      "(1-200 characters): a retry with the same key and body answers the first answer (status and "
                      "body) and creates nothing; the same key with another body is 409."),
    Route("POST", "/interconnectDER", interconnect_der,
          "Ask for an interconnection (interconnectDER)",
          {201: Answer("its interconnect task, Pending engineering approval", "ServiceTaskCreated")},
          body=FieldsBody(requests.INTERCONNECT),
          errors={409: "Idempotency-Key reused with another body"},
          description="Checked against the manufacturer/model combinations and the model's ranges. Takes an "
                      "optional Idempotency-Key header (1-200 characters): a retry with the same key and body "
                      "answers the first answer (status and body) and creates nothing; the same key with another "
                      "body is 409."),
    Route("GET", "/service-tasks", list_service_tasks,
          "List service tasks",
          {200: Answer("by id", "ServiceTaskList")},
          query=TASKS_QUERY),
    Route("GET", "/service-tasks/{task_id:[0-9]+}", get_service_task,
          "Get a service task",
          {200: Answer("it", "ServiceTask")}),
    Route("POST", "/service-tasks/{task_id:[0-9]+}/process", process_service_task,
          "Process a Pending task now (the monitor does every few seconds)",
          {200: Answer("it, Completed or Error with reasons", "ServiceTask")},
          errors={409: "not Pending, or an interconnection awaiting approval"}),
    Route("POST", "/service-tasks/{task_id:[0-9]+}/approve", approve_service_task,
          "Engineering approves an interconnection (which then completes)",
          {200: Answer("it", "ServiceTask")},
          errors={409: "the task's state does not allow it"}),
    Route("POST", "/service-tasks/{task_id:[0-9]+}/reject", reject_service_task,
          "Engineering rejects an interconnection, with a reason",
          {200: Answer("it, in Error", "ServiceTask")},
          body=FieldsBody(REJECTION),
          errors={409: "the task's state does not allow it"}),
    Route("POST", "/service-tasks/{task_id:[0-9]+}/cancel", cancel_service_task,
          "Cancel a Pending task",
          {200: Answer("it, Cancelled", "ServiceTask")},
          errors={409: "the task's state does not allow it"}),
    Route("GET", "/enrollments", list_enrollments,
          "List enrollments",
          {200: Answer("by id", "EnrollmentList")},
          query=ENROLLMENTS_QUERY),
    Route("GET", "/enrollments/{enrollment_id:[0-9]+}", get_enrollment,
          "Get an enrollment",
          {200: Answer("it", "Enrollment")}),
    Route("POST", "/enrollments/{enrollment_id:[0-9]+}/unenroll", unenroll,
          "Unenroll (an unenroll task)",
          {201: Answer("the task", "ServiceTaskCreated")},
          errors={409: "not Enrolled, or a task for it is open"},
          description="Completing it takes the EndDevice out of the program's group (and its location's groups, "
                      "and disables it, if nothing else is enrolled). Takes an optional Idempotency-Key header "
                      "(1-200 characters): a retry with the same key and body answers the first answer (status and "
                      "body) and creates nothing; the same key with another body is 409."),
    Route("GET", "/der-assets", list_der_assets,
          "List DER assets",
          {200: Answer("by id", "DERAssetList")},
          query=ASSETS_QUERY),
    Route("GET", "/der-assets/{der_asset_id:[0-9]+}", get_der_asset,
          "Get a DER asset",
          {200: Answer("it", "DERAsset")}),
    Route("POST", "/der-assets/{der_asset_id:[0-9]+}/replace", replace_der_asset,
          "Replace the device (a replace task)",
          {201: Answer("the task", "ServiceTaskCreated")},
          body=FieldsBody(requests.REPLACEMENT, DEVICE_PARTS, "the new device; manufacturer/model, nameplate and "
                                                              "settings default to the old one's"),
          errors={409: "the asset is retired, or a task for it is open"},
          description="Completing it gives the enrollments to a new DER asset and EndDevice (the new LFDI) and "
                      "retires the old ones, history kept. Takes an optional Idempotency-Key header (1-200 "
                      "characters): a retry with the same key and body answers the first answer (status and body) "
                      "and creates nothing; the same key with another body is 409."),
    Route("POST", "/der-assets/{der_asset_id:[0-9]+}/enrollments", enroll_der_asset,
          "Enroll the asset in a further program",
          {201: Answer("the enrollment and its task", "EnrollmentCreated")},
          body=FieldsBody(ENROLLMENT, description="program: an id, a rules code or an mRID"),
          errors={409: "retired, or already enrolled in that program"},
          description="Eligibility is checked now and again when the task is processed. Takes an optional "
                      "Idempotency-Key header (1-200 characters): a retry with the same key and body answers the "
                      "first answer (status and body) and creates nothing; the same key with another body is 409."),
)
