"""The cactus admin hooks: each admin instruction becomes calls to der-gateway's admin API.

Each cactus client gets groups (FunctionSetAssignments) and programs of its own, so one client's DERControlList is
never another's.  Nothing here reaches into the server's store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

from cactus_client.admin.plugins import hookimpl
from cactus_client.model.config import ClientConfig
from cactus_client.model.context import AdminContext
from cactus_client.model.execution import ActionResult, StepExecution
from cactus_client.model.parameter import resolve_variable_expressions_from_parameters
from cactus_client.sep2 import lfdi_from_cert_file
from cactus_test_definitions.server.test_procedures import AdminInstruction, ClientType

from .admin_api import AdminApi
from .values import active_power, control_base

logger = logging.getLogger(__name__)

DEFAULT_DURATION_SECONDS = 8  # an event's length when the instruction gives none
DEFAULT_SCHEDULED_OFFSET_SECONDS = 2  # a scheduled event starts this far ahead when nothing precedes it
DEFAULT_FSA = "default"
NOTIFICATION_WAIT_SECONDS = 10

RATE_RESOURCES = {  # cactus resource names -> the admin API's rate resources
    "DeviceCapability": "dcap", "Time": "tm", "EndDeviceList": "edev", "EndDevice": "edev",
    "FunctionSetAssignmentsList": "fsa", "FunctionSetAssignments": "fsa", "DERProgramList": "derp",
    "DERProgram": "derp", "DERControlList": "derp", "DERList": "der", "DER": "der",
    "MirrorUsagePointList": "mup", "MirrorUsagePoint": "mup", "SubscriptionList": "sub",
}
LIVE_STATUSES = (0, 1)  # EventStatus.currentStatus: Scheduled, Active (an event that has ended keeps it)


@dataclass
class ClientState:
    """What the plugin has set up for one cactus client during one run."""
    groups: dict[str, int] = field(default_factory=dict)  # FSA annotation -> group id
    programs: dict[tuple[str, int], int] = field(default_factory=dict)  # (FSA annotation, primacy) -> program id


class DerGatewayAdminPlugin:
    def __init__(self) -> None:
        self._api: AdminApi | None = None
        self._clients: dict[str, ClientState] = {}

    @hookimpl
    async def admin_setup(self, context: AdminContext) -> ActionResult:
        self._api = AdminApi.from_environment()
        self._clients = {}
        for config in context.client_configs.values():
            if config.type == ClientType.AGGREGATOR:
                await self._ensure_aggregator(config)
        return ActionResult.done()

    @hookimpl
    async def admin_teardown(self, context: AdminContext) -> ActionResult:
        if self._api is not None:
            await self._api.close()
            self._api = None
        return ActionResult.done()

    @hookimpl
    async def admin_instruction(self, instruction: AdminInstruction, step: StepExecution,
                                context: AdminContext) -> ActionResult | None:
        alias = instruction.client or next(iter(context.client_configs))
        config = context.client_configs[alias]
        parameters = await resolve_variable_expressions_from_parameters(config, instruction.parameters)
        instruction = replace(instruction, parameters=parameters)
        handler = getattr(self, "_" + instruction.type.replace("-", "_"), None)
        if handler is None:
            raise NotImplementedError(f"der-gateway's plugin has no handler for {instruction.type}")
        logger.info("admin instruction %s for %s: %s", instruction.type, alias, parameters)
        await handler(alias, config, parameters)
        await self._notified()
        return ActionResult.done()

    # -- the instructions ----------------------------------------------------------------

    async def _ensure_end_device(self, alias: str, config: ClientConfig, p: dict[str, Any]) -> None:
        if not p["registered"]:
            end_device = await self._end_device(config)
            if end_device is not None:
                await self._call("DELETE", f"/end-devices/{end_device['id']}")
            return
        view = await self._end_device(config)
        if view is None:
            body: dict[str, Any] = {"lFDI": config.lfdi.upper(), "pIN": config.pin}
            if _is_aggregator(config, p.get("client_type")):
                body["owner"] = _certificate_lfdi(config)
            view = await self._call("POST", "/end-devices", body)
        elif view["pIN"] != config.pin:  # registered in-band, before the operator gave it its PIN
            view = await self._call("PATCH", f"/end-devices/{view['id']}", {"pIN": config.pin})
        for group_id in self._state(alias).groups.values():
            await self._call("PUT", f"/groups/{group_id}/members/{view['id']}")

    async def _ensure_mup_list_empty(self, alias: str, config: ClientConfig, p: dict[str, Any]) -> None:
        await self._call("DELETE", f"/clients/{_certificate_lfdi(config)}/mirror-usage-points")

    async def _ensure_fsa(self, alias: str, config: ClientConfig, p: dict[str, Any]) -> None:
        await self._group(alias, config, p.get("annotation") or DEFAULT_FSA)

    async def _ensure_der_program(self, alias: str, config: ClientConfig, p: dict[str, Any]) -> None:
        await self._program(alias, config, p.get("fsa_annotation") or DEFAULT_FSA, p.get("primacy", 1))

    async def _ensure_der_control_list(self, alias: str, config: ClientConfig, p: dict[str, Any]) -> None:
        await self._program_with_primacy(alias, config, 1)

    async def _create_der_control(self, alias: str, config: ClientConfig, p: dict[str, Any]) -> None:
        program_id = await self._program_with_primacy(alias, config, p.get("primacy", 1))
        now = int(time.time())
        duration = p.get("duration_seconds", DEFAULT_DURATION_SECONDS)
        offset = p.get("start_offset_seconds")
        if p["status"] == "active":
            start = now - (offset if offset is not None else 1)
        elif offset is not None:
            start = now + offset
        else:  # scheduled controls follow one another
            ends = [c["interval"]["start"] + c["interval"]["duration"]
                    for c in await self._controls(program_id)]
            latest = max(ends, default=0)
            start = latest + 1 if latest > now else now + DEFAULT_SCHEDULED_OFFSET_SECONDS
        base = control_base(p)
        if not base:
            base["opModExpLimW"] = active_power(0)
        body: dict[str, Any] = {"interval": {"start": start, "duration": duration}, "DERControlBase": base}
        if p.get("randomizeStart_seconds") is not None:
            body["randomizeStart"] = p["randomizeStart_seconds"]
        await self._call("POST", f"/programs/{program_id}/controls", body)

    async def _create_default_der_control(self, alias: str, config: ClientConfig, p: dict[str, Any]) -> None:
        program_id = await self._program_with_primacy(alias, config, p.get("primacy", 1))
        body: dict[str, Any] = {"DERControlBase": control_base(p)}
        if p.get("setGradW") is not None:
            body["setGradW"] = p["setGradW"]
        await self._call("PUT", f"/programs/{program_id}/default-control", body)

    async def _clear_der_controls(self, alias: str, config: ClientConfig, p: dict[str, Any]) -> None:
        now = int(time.time())
        live = [c for program_id in set(self._state(alias).programs.values())
                for c in await self._controls(program_id)
                if c["EventStatus"]["currentStatus"] in LIVE_STATUSES
                and c["interval"]["start"] + c["interval"]["duration"] > now]
        if not p.get("all", False):
            live = sorted(live, key=lambda c: c["interval"]["start"])[-1:]
        for control in live:
            await self._call("POST", f"/controls/{control['id']}/cancel")

    async def _set_poll_rate(self, alias: str, config: ClientConfig, p: dict[str, Any]) -> None:
        await self._set_rate(p["resource"], "pollRate", p["rate_seconds"])

    async def _set_post_rate(self, alias: str, config: ClientConfig, p: dict[str, Any]) -> None:
        await self._set_rate(p["resource"], "postRate", p["rate_seconds"])

    async def _set_client_access(self, alias: str, config: ClientConfig, p: dict[str, Any]) -> None:
        await self._call("PUT", f"/clients/{_certificate_lfdi(config)}/access", {"granted": bool(p["granted"])})

    # -- helpers -----------------------------------------------------------------------------

    async def _call(self, method: str, path: str, body: Any = None, *, missing_ok: bool = False) -> Any:
        assert self._api is not None, "admin_setup has not run"
        return await self._api.call(method, path, body, missing_ok=missing_ok)

    async def _notified(self) -> None:
        """Waits until subscribers have been told of what the instruction changed, as the harness expects of a
        server by the time an instruction is done (envoy's plugin notifies before it returns)."""
        deadline = time.monotonic() + NOTIFICATION_WAIT_SECONDS
        while time.monotonic() < deadline:
            backlog = await self._call("GET", "/notifications/backlog")
            if backlog["pendingChanges"] == 0 and backlog["due"] == 0:
                return
            await asyncio.sleep(0.02)
        logger.warning("notifications still owed after %s s: %s", NOTIFICATION_WAIT_SECONDS, backlog)

    def _state(self, alias: str) -> ClientState:
        return self._clients.setdefault(alias, ClientState())

    async def _ensure_aggregator(self, config: ClientConfig) -> None:
        lfdi = _certificate_lfdi(config)
        if await self._call("GET", f"/aggregators/{lfdi}", missing_ok=True) is None:
            await self._call("POST", "/aggregators", {"lFDI": lfdi, "name": f"cactus {config.id}"})

    async def _end_device(self, config: ClientConfig) -> dict[str, Any] | None:
        for item in (await self._call("GET", "/end-devices"))["items"]:
            if item["lFDI"].upper() == config.lfdi.upper():
                return item
        return None

    async def _group(self, alias: str, config: ClientConfig, annotation: str) -> int:
        state = self._state(alias)
        if annotation not in state.groups:
            group = await self._call("POST", "/groups", {"description": f"{alias} {annotation}"[:32]})
            state.groups[annotation] = group["id"]
            end_device = await self._end_device(config)
            if end_device is not None:
                await self._call("PUT", f"/groups/{group['id']}/members/{end_device['id']}")
        return state.groups[annotation]

    async def _program(self, alias: str, config: ClientConfig, annotation: str, primacy: int) -> int:
        state = self._state(alias)
        key = (annotation, primacy)
        if key not in state.programs:
            group_id = await self._group(alias, config, annotation)
            program = await self._call("POST", "/programs", {
                "description": f"{alias} {annotation} p{primacy}"[:32], "primacy": primacy})
            await self._call("PUT", f"/groups/{group_id}/programs/{program['id']}")
            # a program starts with a DefaultDERControl that limits nothing, for clients to find and subscribe to
            await self._call("PUT", f"/programs/{program['id']}/default-control", {"DERControlBase": {}})
            state.programs[key] = program["id"]
        return state.programs[key]

    async def _program_with_primacy(self, alias: str, config: ClientConfig, primacy: int) -> int:
        """The client's program of this primacy, in whichever of its groups; a new one in its default group."""
        for (_, program_primacy), program_id in self._state(alias).programs.items():
            if program_primacy == primacy:
                return program_id
        return await self._program(alias, config, DEFAULT_FSA, primacy)

    async def _controls(self, program_id: int) -> list[dict[str, Any]]:
        return (await self._call("GET", f"/programs/{program_id}/controls"))["items"]

    async def _set_rate(self, resource: str, which: str, seconds: int) -> None:
        name = RATE_RESOURCES.get(str(resource))
        if name is None:
            raise ValueError(f"der-gateway advertises no rate for {resource}")
        current = next(r for r in (await self._call("GET", "/rates"))["items"] if r["resource"] == name)
        body = {"resource": name, "pollRate": current["pollRate"], which: seconds}
        if "postRate" in current:
            body.setdefault("postRate", current["postRate"])
        await self._call("PUT", "/rates", body)


def _is_aggregator(config: ClientConfig, client_type: str | None) -> bool:
    return client_type == ClientType.AGGREGATOR or (client_type is None and config.type == ClientType.AGGREGATOR)


def _certificate_lfdi(config: ClientConfig) -> str:
    return lfdi_from_cert_file(config.certificate_file).upper()


plugin = DerGatewayAdminPlugin()
