"""The demo's utility event: two stages of curtailment, the first with a kW target that reserves the devices it
calls, the second calling every enrolled device; watched live over Modbus and through the admin API, and ended
with each device's outcome.

Both stages cap output at LIMIT_PERCENT of setMaxW.  Curtailing generation adds load, so the first stage's
target is negative: half of what the whole fleet's forecast says the cap would add (docs/participation.md).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import aiohttp

from ..bridge.runtime import Bridge

LIMIT_PERCENT = 30  # each stage caps every device it calls at this share of its setMaxW
STAGE_GAP = 2  # seconds between the end of stage 1 and the start of stage 2


@dataclass
class StageResult:
    position: int
    control_id: int
    target_kw: float | None
    forecast_kw: float  # of the devices it called
    called: list[str]  # device names
    counts: dict[str, int] = field(default_factory=dict)  # Responses by status
    w_during: float = 0.0  # the lowest total W read over Modbus while it was in force
    outcomes: dict[str, str] = field(default_factory=dict)  # device name -> outcome

    def completed_by_all_called(self) -> bool:
        participated = all(self.outcomes.get(name) == "participated" for name in self.called)
        return bool(self.called) and self.counts.get("completed", 0) == len(self.called) and participated


class Admin:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def __call__(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        async with self.session.request(method, self.url + path, json=body) as resp:
            answer = await resp.json()
            if resp.status != expect:
                raise RuntimeError(f"{method} {path} answered {resp.status}: {answer}")
            return answer

    async def text(self, method: str, path: str) -> str:
        async with self.session.request(method, self.url + path) as resp:
            if resp.status != 200:
                raise RuntimeError(f"{method} {path} answered {resp.status}")
            return await resp.text()


def _control(start: int, seconds: int, description: str) -> dict[str, Any]:
    return {"description": description, "interval": {"start": start, "duration": seconds},
            "DERControlBase": {"opModMaxLimW": LIMIT_PERCENT * 100}}


async def schedule(admin: Admin, program_id: int, event_seconds: int, lead_seconds: int, names: dict[str, str],
                   say: Callable[[str], None]) -> tuple[dict[str, Any], list[StageResult]]:
    """Creates the two-stage event and says whom stage 1 reserved and why; names: lFDI -> device name."""
    start = int(time.time()) + lead_seconds
    window = _control(start, event_seconds, "")
    del window["description"]
    fleet = await admin("POST", f"/programs/{program_id}/forecast", window)
    target = round(fleet["totalKW"] / 2, 3) or None
    say(f"forecast the cap at {LIMIT_PERCENT}% would change the fleet's load by {fleet['totalKW']:+.2f} kW "
        f"(from the last quarter hour of telemetry); stage 1 targets {target if target is None else f'{target:+.2f}'}"
        " kW")
    second = start + event_seconds + STAGE_GAP
    stages = [{"programId": program_id, **_control(start, event_seconds, "Demo stage 1"), "targetKW": target},
              {"programId": program_id, **_control(second, event_seconds, "Demo stage 2")}]
    if target is None:
        del stages[0]["targetKW"]
    event = await admin("POST", "/utility-events", {"description": "Demo two-stage curtailment", "stages": stages},
                        201)
    results = []
    for stage in event["stages"]:
        reservation = await admin("GET", f"/utility-events/{event['id']}/stages/{stage['position']}/reservation")
        called = [names[d["endDeviceLFDI"]] for d in reservation["devices"] if d["reserved"]]
        results.append(StageResult(stage["position"], stage["controlId"], reservation["targetKW"],
                                   reservation["forecastKW"], called))
        when = f"+{stage['start'] - start + lead_seconds} s"
        say(f"stage {stage['position']}  {stage['mRID']}: opModMaxLimW {LIMIT_PERCENT}% from {when} for "
            f"{event_seconds} s, calls {len(called)} of {len(names)} devices "
            f"(forecast {reservation['forecastKW']:+.2f} kW"
            + (f", target {reservation['targetKW']:+.2f} kW, {'met' if reservation['met'] else 'NOT met'})"
               if reservation["targetKW"] is not None else ", no target: every eligible device)"))
        if reservation["targetKW"] is not None:
            say(f"         {'device':<12} {'reserved':<8} {'score':>6} {'forecast kW':>11}  why")
            for d in reservation["devices"]:
                say(f"         {names[d['endDeviceLFDI']]:<12} {'yes' if d['reserved'] else 'no':<8} "
                    f"{d['score']:>6.2f} {d['forecastKW']:>+11.2f}  {d['reason']}")
    return event, results


def _modbus_w(bridge: Bridge) -> float:
    return sum(s.last_w or 0.0 for s in bridge.states)


async def watch(admin: Admin, bridge: Bridge, event: dict[str, Any], stages: list[StageResult], patience: float,
                say: Callable[[str], None]) -> None:
    """Prints each second which stage is on, its Responses and the fleet's W, until the last stage has ended and
    every device it called has completed (or patience runs out)."""
    windows = [(s["start"], s["start"] + s["duration"]) for s in event["stages"]]
    first = windows[0][0]
    say(f"{'t':>5}  {'stage':<5} {'phase':<10} {'received':>8} {'started':>7} {'completed':>9}  {'total W':>9}")
    for stage in stages:
        stage.w_during = _modbus_w(bridge)
    while True:
        now = time.time()
        # the stage in view: the first whose window (and a moment after it) has not passed
        index = next((i for i, (_, end) in enumerate(windows) if now < end + STAGE_GAP / 2), len(windows) - 1)
        stage, (start, end) = stages[index], windows[index]
        stage.counts = (await admin("GET", f"/controls/{stage.control_id}/participation"))["responseCounts"]
        w = _modbus_w(bridge)
        if start + 2 <= now < end:
            stage.w_during = min(stage.w_during, w)
        phase = "scheduled" if now < start else "active" if now < end else "completed"
        c = stage.counts
        say(f"{now - first:>+5.0f}  {stage.position:<5} {phase:<10} {c.get('received', 0):>8} "
            f"{c.get('started', 0):>7} {c.get('completed', 0):>9}  {w:>9.0f}")
        last = stages[-1]
        if now > windows[-1][1] + 3 and index == len(stages) - 1 and c.get("completed", 0) >= len(last.called):
            break
        if now > windows[-1][1] + patience:
            break
        await asyncio.sleep(1)
    for stage in stages[:-1]:  # the final counts of the earlier stages
        stage.counts = (await admin("GET", f"/controls/{stage.control_id}/participation"))["responseCounts"]


async def outcomes(admin: Admin, event: dict[str, Any], stages: list[StageResult], names: dict[str, str],
                   patience: float, say: Callable[[str], None]) -> None:
    """Waits for the server to settle each stage, then says each device's outcome."""
    deadline = time.monotonic() + patience
    for stage in stages:
        while True:
            record = await admin("GET", f"/utility-events/{event['id']}/stages/{stage.position}/outcomes")
            if record["settledAt"] is not None or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        stage.outcomes = {names[d["endDeviceLFDI"]]: d["outcome"] or "unsettled" for d in record["devices"]}
    say(f"outcome  {'device':<12} " + " ".join(f"{'stage ' + str(s.position):<14}" for s in stages))
    for name in sorted(names.values()):
        say(f"         {name:<12} " + " ".join(f"{s.outcomes.get(name, 'not called'):<14}" for s in stages))
