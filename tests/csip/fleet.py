"""Events for the aggregator topology of Figure 15, run on the manual clock, with the server's side checked."""

from __future__ import annotations

from dataclasses import dataclass, field

from der_gateway.sep import model

from .conftest import T0
from .support import Fleet, SERVICE_POINT, ancestry, controls, get, respond, walk


def under(node: str) -> set[str]:
    """The managed EndDevices below a node of Figure 15."""
    return {name for name, sp in SERVICE_POINT.items() if node in ancestry(sp)}


@dataclass
class Planned:
    """An event on a node's program: created at `created` (before its start unless the procedure says not),
    and the responses each EndDevice posts, as {device: [(time, status), ...]}."""

    node: str
    start: int
    duration: int
    base: dict
    created: int = T0
    responses: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


async def run(csip, fleet: Fleet, plan: dict[str, Planned]) -> dict[str, dict]:
    """Creates each event at its time, checks each managed EndDevice reaches exactly the events of the nodes above
    it (through its own FSAs and programs), moves the clock through every start, end and response, checking
    each event is Active from its start (the server supersedes nothing across programs), posts the responses
    with the aggregator's certificate, and checks what the operator sees: who was targeted and who said what."""
    aggregator = csip.client("aggregator")
    made: dict[str, dict] = {}
    served: dict[str, model.DERControl] = {}
    moments = sorted({p.created for p in plan.values()} | {p.start for p in plan.values()}
                     | {t for p in plan.values() for rs in p.responses.values() for t, _ in rs})
    for moment in moments:
        await csip.at(moment)
        for name, p in plan.items():
            if p.created == moment:
                made[name] = await csip.operator.event(fleet.programs[p.node], p.start, p.duration, p.base)
                await reached(csip, fleet, plan, made)
                served.update({name: await fetched(aggregator, made[name])})
        for name, p in plan.items():
            if p.start == moment and name in made:
                got = await get(aggregator, served[name].href, model.DERControl)
                assert (got.EventStatus.currentStatus, got.EventStatus.dateTime) == (1, p.start), name
            for device, said in p.responses.items():
                for when, status in said:
                    if when == moment:
                        await respond(aggregator, served[name], fleet.lfdis[device], status, when)
    for name, p in plan.items():
        seen = await csip.operator.participation(made[name]["id"])
        assert seen["targeted"] == len(under(p.node)), name
        said = {item["endDeviceLFDI"]: [r["status"] for r in item["responses"]] for item in seen["items"]}
        assert said == {fleet.lfdis[d]: [s for _, s in rs] for d, rs in p.responses.items()}, name
    return made


async def reached(csip, fleet: Fleet, plan: dict[str, Planned], made: dict[str, dict]) -> None:
    aggregator = csip.client("aggregator")
    for device in SERVICE_POINT:
        found = await walk(aggregator, fleet.lfdis[device])
        mrids = set()
        for program in found.all_programs():
            mrids |= set(await controls(aggregator, program))
        expected = {made[n]["mRID"] for n, p in plan.items() if n in made and device in under(p.node)
                    and p.start + p.duration > csip.clock.now()}
        assert mrids == expected, device


async def fetched(client, event: dict) -> model.DERControl:
    return await get(client, event["href"], model.DERControl)
