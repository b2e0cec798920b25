"""The scheduler's duty for stages: report each status a stage takes, settle its outcomes when it has ended, and
write its outcome files.

Every step reads what is stored and writes with a guard on it (store/sqlite_stages.py), so a pass may run
again at any time, after a restart or on a new leader, and neither loses a report nor repeats one.  A stage's
statuses come from its DERControl's state (der_controls.event_states, domain.events), at each pass.

Outcomes are derived `Config.stage_outcome_delay` seconds after the stage ended (COMPLETED or CANCELED), from
every Response its called devices sent (domain.outcomes), and frozen in the record: later Responses, or later
changes of group membership, change nothing.  They are reported to operations (a stage-outcomes sync message)
and written, as JSON and CSV, to data_dir/exports/outcomes/stage-{id}.json and .csv, each replaced atomically
(a crash leaves the old file or the new, never part of one; writing them again gives the same files).
"""

from __future__ import annotations

import asyncio
import dataclasses
import csv
import io
import json
import logging
import os
from pathlib import Path

from ..clock import Clock
from ..config import Config
from ..domain import outcomes as outcome_rules
from ..domain import stages as rules
from ..store import ControlRecord
from ..store.stage_records import ParticipationRecord, StageRecord, Transition, UtilityEventRecord
from ..store.topics import GLOBAL
from . import der_controls, stage_json

log = logging.getLogger(__name__)

NEVER = 2**63 - 1

CSV_COLUMNS = ("eventId", "eventMRID", "stageId", "stagePosition", "programId", "controlMRID", "start", "duration",
               "endDeviceId", "endDeviceLFDI", "calledAt", "visibleAt", "outcome", "responses", "lastStatus")


def outcome_dir(config: Config) -> Path:
    return config.data_dir / "exports" / "outcomes"


class StageReporter:
    def __init__(self, store, clock: Clock, config: Config | None = None) -> None:
        self.store = store
        self.clock = clock
        self.config = config
        # after a pass: (the global change counter before it, when a stage next needs a look); until then, and
        # while no event is written (a new one, a cancellation: any write to controls moves the counter), the
        # passes of the background (four a second) skip reading the stages
        self._quiet: tuple[int, int] | None = None

    async def run_once(self) -> None:
        """One pass over every stage not yet finished with."""
        now = self.clock.now()
        (generation,) = await self.store.generations([GLOBAL])
        if self._quiet is not None and self._quiet[0] == generation and now < self._quiet[1]:
            return
        self._quiet = None
        due = NEVER
        after = 0
        while stages := await self.store.unfinished_stages(after):
            for stage in stages:
                try:
                    due = min(due, await self._pass(stage))
                except rules.StageError:  # the clock was set back past a status reported: wait for it to return
                    log.warning("stage %d: its status went back; nothing reported until it moves on", stage.id,
                                exc_info=True)
                    due = min(due, now + 1)
            after = stages[-1].id
        self._quiet = (generation, due)

    async def report(self, stage_id: int) -> None:
        """Reports the statuses the stage has taken since the last one reported (the operator's cancellations:
        it moves the stage's DERControl, so the next pass looks at every stage)."""
        stage = await self.store.stage(stage_id)
        if stage is not None:
            await self._transitions(stage)

    async def _pass(self, stage: StageRecord) -> int:
        """Reports, settles and exports what is due for the stage; returns when it next needs a look."""
        status, at, control = await self._transitions(stage)
        if status == rules.SCHEDULED:
            return max(control.start, control.creation_time)
        if status == rules.IN_PROGRESS:
            return control.start + control.duration
        if self.config is None:
            return NEVER
        now = self.clock.now()
        if stage.settled_at is None:
            if now < at + self.config.stage_outcome_delay:
                return at + self.config.stage_outcome_delay
            await self._settle(stage, status, at)
        if self.config.stage_outcome_files:
            await self.write_files(stage.id)
        await self.store.stage_exported(stage.id, now)
        return NEVER

    async def _transitions(self, stage: StageRecord) -> tuple[str, int, ControlRecord]:
        """Queues the reports due; returns the stage's status, when it took it, and its DERControl."""
        now = self.clock.now()
        control = await self.store.control(stage.control_id)
        records = await self.store.controls(stage.control_program_id, ending_after=control.start + control.duration - 1)
        state = der_controls.event_states(records, now)[control.id]
        event = der_controls.as_event(control)
        status = state.program_event_status
        due = rules.steps(stage.reported, status)
        if due:
            utility_event = await self.store.utility_event(stage.event_id)
            transitions = [Transition(s, rules.effective_at(s, event, state), stage_json.status_message(
                utility_event.mrid, stage.position, stage.program_id, control.mRID, control.start,
                control.duration, stage.target_w, s, rules.effective_at(s, event, state))) for s in due]
            await self.store.record_stage_transitions(stage.id, stage.reported, transitions, now)
        return status, rules.effective_at(status, event, state), control

    async def _settle(self, stage: StageRecord, status: str, end: int) -> None:
        control = await self.store.control(stage.control_id)
        ran = status == rules.COMPLETED or end > max(control.start, control.creation_time)
        replies: dict[str, list[outcome_rules.Reply]] = {}
        for r in await self.store.responses(control.id):
            replies.setdefault(r.end_device_lfdi.upper(), []).append(outcome_rules.Reply(r.status, r.created,
                                                                                         r.received))
        record = await self.store.participation(control.id)
        settled = []
        for p in record:
            mine = replies.get(p.lfdi.upper(), [])
            settled.append((p.end_device_id, outcome_rules.outcome(mine, ran),
                            [(x.status, x.created, x.received) for x in mine]))
        now = self.clock.now()
        event = await self.store.utility_event(stage.event_id)
        message = stage_json.outcomes(event, stage_json.StageView(dataclasses.replace(stage, settled_at=now),
                                                                  control, status), _as_settled(record, settled))
        await self.store.settle_stage(stage.id, settled, message, now)

    async def outcomes(self, stage_id: int) -> tuple[UtilityEventRecord, stage_json.StageOutcomes] | None:
        stage = await self.store.stage(stage_id)
        if stage is None:
            return None
        event = await self.store.utility_event(stage.event_id)
        control = await self.store.control(stage.control_id)
        records = await self.store.controls(stage.control_program_id, ending_after=control.start + control.duration - 1)
        status = der_controls.event_states(records, self.clock.now())[control.id].program_event_status
        return event, stage_json.outcomes(event, stage_json.StageView(stage, control, status),
                                          await self.store.participation(control.id))

    async def write_files(self, stage_id: int) -> None:
        found = await self.outcomes(stage_id)
        assert self.config is not None and found is not None
        _, body = found
        await asyncio.to_thread(_write_files, outcome_dir(self.config), stage_id, body)


def _as_settled(record: list[ParticipationRecord],
                settled: list[tuple[int, str, list[tuple[int, int, int]]]]) -> list[ParticipationRecord]:
    """The participation record as it reads once the outcomes are written."""
    by_device = {edev: (o, tuple(rs)) for edev, o, rs in settled}
    return [dataclasses.replace(p, outcome=by_device[p.end_device_id][0], responses=by_device[p.end_device_id][1])
            for p in record]


def csv_text(body: stage_json.StageOutcomes) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for d in body["devices"]:
        responses = d["responses"] or []
        writer.writerow([body["eventId"], body["eventMRID"], body["stageId"], body["stagePosition"],
                         body["programId"], body["controlMRID"], body["start"], body["duration"], d["endDeviceId"],
                         d["endDeviceLFDI"], d["calledAt"], d["visibleAt"], d["outcome"] or "", len(responses),
                         responses[-1]["status"] if responses else ""])
    return out.getvalue()


def _write_files(directory: Path, stage_id: int, body: stage_json.StageOutcomes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    _replace(directory / f"stage-{stage_id}.json", json.dumps(body, indent=1, sort_keys=True) + "\n")
    _replace(directory / f"stage-{stage_id}.csv", csv_text(body))
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
