"""Which EndDevices a program may reach through a group, when the program takes part in enrollment.

A program with enrollment rules (set through PUT /programs/{id}/rules, until cleared) reaches a device only through
the device's enrollment in it.  Every member of a group holding such a program must be the EndDevice of an active
DER asset, enabled, Enrolled in the program, with its enrollment sync not rejected by operations, and (when it joins
or the program is assigned) eligible under the program's rules.  A program without rules is assigned to groups as
plain 2030.5 allows (FunctionSetAssignments), for any device that is not retired.  Whatever its rules, a device
enrolled in a program leaves the groups through which the program calls it by unenrollment, not by the operator's
removal; an unenrollment or a rejected enrollment sync takes it out of every group holding the program.

Each membership change is recorded with who made it (ACTORS) and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import Problem, problem

ACTORS = ("operator", "enrollment", "unenrollment", "retirement", "move-out", "sync-rejection", "network")
SYNC_REJECTED = "Error"  # an enrollment's sync_status once operations rejected its sync (store/sqlite_sync.py)


@dataclass(frozen=True)
class Standing:
    """What the store knows of one EndDevice towards one program."""

    end_device_id: int
    enabled: bool
    asset_id: int | None  # its DER asset (the latest one), if it is one
    asset_status: str | None
    enrollment_id: int | None  # its latest enrollment in the program, if any
    enrollment_status: str | None
    sync_status: str | None
    sync_reason: str | None


def retired_reason(s: Standing) -> str | None:
    if s.asset_id is not None and s.asset_status != "active":
        return f"EndDevice {s.end_device_id}: its DER asset {s.asset_id} is {s.asset_status}; it is never called"
    return None


def standing_problems(s: Standing, program: str, eligibility: list[Problem], field: str) -> list[Problem]:
    """Why the program may not reach this device (nothing if it may); eligibility: the program's rules, judged
    on the device's asset now."""
    who = f"EndDevice {s.end_device_id}"
    retired = retired_reason(s)
    if retired:
        return [problem(retired, field)]
    if s.asset_id is None:
        return [problem(f"{who} is not a registered DER asset; program {program} reaches devices only through "
                        "their enrollment", field)]
    found: list[Problem] = []
    if not s.enabled:
        found.append(problem(f"{who} is disabled", field))
    if s.enrollment_id is None:
        found.append(problem(f"{who} is not enrolled in program {program}; enroll its DER asset {s.asset_id} "
                             f"(POST /der-assets/{s.asset_id}/enrollments)", field))
    elif s.enrollment_status != "Enrolled":
        found.append(problem(f"{who}: its enrollment {s.enrollment_id} in program {program} is "
                             f"{s.enrollment_status}, not Enrolled", field))
    elif s.sync_status == SYNC_REJECTED:
        found.append(problem(f"{who}: operations rejected the sync of its enrollment {s.enrollment_id} in program "
                             f"{program} ({s.sync_reason or 'no reason given'})", field))
    found += [problem(f"{who}: {e['reason']}", field) for e in eligibility]
    return found


def dispatched(s: Standing) -> bool:
    """Whether the device's enrollment in the program stands, so that the program calls it."""
    return (retired_reason(s) is None and s.asset_id is not None and s.enabled
            and s.enrollment_status == "Enrolled" and s.sync_status != SYNC_REJECTED)


def leaving_problem(s: Standing, program: str, field: str) -> Problem:
    """Refuses an operator's removal of an enrolled device from the only group through which the program calls it."""
    return problem(f"EndDevice {s.end_device_id} is enrolled in program {program} (enrollment {s.enrollment_id}) "
                   f"and this group is how the program calls it: unenroll it instead "
                   f"(POST /enrollments/{s.enrollment_id}/unenroll)", field)
