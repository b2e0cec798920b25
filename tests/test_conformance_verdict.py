"""Reading cactus's output: a harness-made warning is waived only where it is the whole story."""

from __future__ import annotations

from der_gateway.conformance.verdict import failure_summary, rounds_without_failure, waived_warnings

LOG = "2026-11-30 18:00:00,000 {level} cactus_client.model.progress {where} - {message}"


def line(message: str, level: str = "INFO", where: str = "add_log") -> str:
    return LOG.format(level=level, where=where, message=message)


def evaluation(**facts: bool) -> str:
    values = {"all_steps_evaluated": True, "all_steps_passed": True, "no_warnings": False, "no_xsd_errors": True,
              "execution_complete": True, **facts}
    inner = ", ".join(f"{k}={v}" for k, v in values.items())
    return f"2026-11-30 18:00:01,000 DEBUG cactus_client.execution.run run_entrypoint - ResultsEvaluation({inner})"


SKIPS = [line(f"(A) PRECONDITION[0] Attempt 0: Skipping DERProgram /derp/{a} - primacy {a} != expected {b}.",
              "WARNING", "log_step_warning") for a, b in ((2, 1), (1, 2))]


def test_s_all_49s_own_warnings_are_waived_when_nothing_else_is_wrong():
    output = "\n".join([*SKIPS, evaluation()])
    assert len(waived_warnings("S-ALL-49", output)) == 2
    assert waived_warnings("S-ALL-48", output) == []  # only where the harness is known to raise them


def test_nothing_is_waived_beside_another_warning_or_a_failed_step():
    mrid = line("/derp/1: mrid '...00009F1C' is invalid", "WARNING", "log_stored_resource_warning")
    assert waived_warnings("S-ALL-49", "\n".join([*SKIPS, mrid, evaluation()])) == []
    assert waived_warnings("S-ALL-49", "\n".join([*SKIPS, evaluation(all_steps_passed=False)])) == []
    assert waived_warnings("S-ALL-49", "\n".join([*SKIPS, evaluation(no_xsd_errors=False)])) == []
    assert "mrid" in failure_summary("\n".join([*SKIPS, mrid, evaluation()]))


def test_s_all_50_stopped_by_its_timeout_counts_the_rounds_it_passed():
    rounds = [line(f"1 - Simulate Client (72 hours).[{n}] Attempt 0: Success with all checks passing.")
              for n in range(3)]
    stopped = "2026-11-30 19:00:00,000 ERROR cactus_client.execution.run _run_and_await_tasks - Aborting test " \
              "due to timeout after 3600 seconds."
    clean = evaluation(no_warnings=True, all_steps_passed=False, execution_complete=False)
    assert rounds_without_failure("\n".join([*rounds, stopped, clean])) == 3
    failed = line("1 - Simulate Client (72 hours).[3] Attempt 0: Check Failure: no EndDevice")
    assert rounds_without_failure("\n".join([*rounds, failed, stopped, clean])) == 0
    assert rounds_without_failure("\n".join([*rounds, clean])) == 0  # not stopped by the timeout: a real end
