"""Service tasks: listing, claiming, doing their work, engineering decisions and cancellation."""

from __future__ import annotations

import json

from ...domain.identifiers import Issuer
from ...domain.utility import Conflict, problem
from ...domain.utility import tasks
from ..sqlite_control_plane import log_changes
from ..utility_records import ServiceTaskRecord
from . import reads
from ..sqlite_plumbing import Conn, SQLitePlumbing, present
from .task_work import HANDLERS, TaskFailed


def _task(c: Conn, task_id: int) -> ServiceTaskRecord:
    return present(reads.service_task(c, task_id), f"service task {task_id}")


class ServiceTaskStore(SQLitePlumbing):
    async def service_tasks(self, state: str | None = None, kind: str | None = None) -> list[ServiceTaskRecord]:
        clauses: list[str] = []
        params: list[str] = []
        for column, value in (("state", state), ("kind", kind)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return [reads.service_task_of_row(r) for r in await self._rows(
            f"SELECT {reads.TASK_COLUMNS} FROM service_tasks {where} ORDER BY id", tuple(params))]

    async def service_task(self, task_id: int) -> ServiceTaskRecord | None:
        return await self._lookup(reads.service_task, task_id)

    async def due_service_tasks(self, now: int, limit: int = 100) -> list[int]:
        """Tasks the monitor may process now: Pending ones (interconnections once decided), and abandoned ones."""
        return [r[0] for r in await self._rows(
            "SELECT id FROM service_tasks WHERE (state = 'Pending' AND (kind != 'interconnect' OR approval IS NOT "
            "NULL)) OR (state = 'Processing' AND updated <= ?) ORDER BY id LIMIT ?",
            (now - tasks.STALE_SECONDS, limit))]

    async def claim_service_task(self, task_id: int, now: int) -> ServiceTaskRecord:
        """Pending (or abandoned Processing) -> Processing; Conflict if the task may not be processed."""
        def claim(c: Conn) -> ServiceTaskRecord:
            task = _task(c, task_id)
            reason = tasks.why_not_process(task.kind, task.state, task.approval, task.updated, now)
            if reason:
                raise Conflict(f"service task {task_id} cannot be processed: {reason}")
            c.execute("UPDATE service_tasks SET state = 'Processing', updated = ? WHERE id = ?", (now, task_id))
            return _task(c, task_id)
        return await self._in_transaction(claim)

    async def finish_service_task(self, task_id: int, now: int, issuer: Issuer) -> ServiceTaskRecord:
        """Does a Processing task's work: Completed, or Error with the reasons (and nothing of the work done)."""
        def finish(c: Conn) -> ServiceTaskRecord:
            task = _task(c, task_id)
            if task.state != "Processing":
                raise Conflict(f"service task {task_id} is {task.state}, not Processing")
            changed: list[str] = []
            c.execute("SAVEPOINT task")
            try:
                HANDLERS[task.kind](c, task, now, issuer, changed)
            except TaskFailed as failed:
                c.execute("ROLLBACK TO task")
                c.execute("RELEASE task")
                c.execute("UPDATE service_tasks SET state = 'Error', reasons = ?, updated = ? WHERE id = ?",
                          (json.dumps(failed.reasons), now, task_id))
                if task.kind == "enroll":
                    c.execute("UPDATE enrollments SET status = 'Error', updated = ? WHERE id = ?",
                              (now, task.enrollment_id))
                return _task(c, task_id)
            c.execute("RELEASE task")
            c.execute("UPDATE service_tasks SET state = 'Completed', reasons = '[]', updated = ? WHERE id = ?",
                      (now, task_id))
            log_changes(c, list(dict.fromkeys(changed)))
            return _task(c, task_id)
        return await self._in_transaction(finish)

    async def decide_interconnection(self, task_id: int, approved: bool, reason: str | None, now: int
                                     ) -> ServiceTaskRecord:
        """Engineering's decision: approved (the task may then complete) or rejected (Error, with the reason)."""
        def decide(c: Conn) -> ServiceTaskRecord:
            task = _task(c, task_id)
            why = tasks.why_not_decide(task.kind, task.state, task.approval)
            if why:
                raise Conflict(f"service task {task_id}: {why}")
            approval = {"decision": "approved" if approved else "rejected", "reason": reason, "at": now}
            c.execute("UPDATE service_tasks SET approval = ?, updated = ? WHERE id = ?",
                      (json.dumps(approval), now, task_id))
            if not approved:
                c.execute("UPDATE service_tasks SET state = 'Error', reasons = ? WHERE id = ?",
                          (json.dumps([problem(f"rejected by engineering: {reason}", "approval")]), task_id))
            return _task(c, task_id)
        return await self._in_transaction(decide)

    async def cancel_service_task(self, task_id: int, now: int) -> ServiceTaskRecord:
        def cancel(c: Conn) -> ServiceTaskRecord:
            task = _task(c, task_id)
            why = tasks.why_not_cancel(task.state)
            if why:
                raise Conflict(f"service task {task_id}: {why}")
            c.execute("UPDATE service_tasks SET state = 'Cancelled', updated = ? WHERE id = ?", (now, task_id))
            if task.kind == "enroll":
                c.execute("UPDATE enrollments SET status = 'Cancelled', updated = ? WHERE id = ?",
                          (now, task.enrollment_id))
            return _task(c, task_id)
        return await self._in_transaction(cancel)
