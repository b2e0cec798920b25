"""What cactus's output says of a procedure: why it failed, or that it passed but for the harness's own faults."""

from __future__ import annotations

import re

EXTENDED = "S-ALL-50"  # simulates 72 hours; a run is cut short by its timeout

# Warnings that cactus 1.3.3 raises whatever the server does, matched exactly.  S-ALL-49 wants two DERPrograms of
# primacy 1 and 2, then checks "a DERProgram of primacy 1" and "one of primacy 2" over every DERProgram it found,
# logging a warning for each that it skips: the other program.  A run whose only warnings are these, with every
# step passed, no XSD error and the procedure complete, counts as passed, and the table says why.
HARNESS_DEFECTS: dict[str, re.Pattern[str]] = {
    "S-ALL-49": re.compile(r"\(A\) PRECONDITION\[0\] Attempt \d+: Skipping DERProgram /derp/\d+ - "
                           r"primacy (1 != expected 2|2 != expected 1)\."),
}


_FAILURE = re.compile(r"(Fail|Exception|arning|XSD|rror|xpected|imed out)")
_ZERO = re.compile(r"^(Warnings|XSD Errors)\s*│\s*0$")


def _warnings(output: str) -> list[str]:
    return [line.split(" - ", 1)[1] for line in output.splitlines()
            if " WARNING cactus_client" in line and " - " in line]


def waived_warnings(procedure: str, output: str) -> list[str]:
    """The warnings of a strict failure if they are all known harness defects and nothing else failed; else []."""
    defect = HARNESS_DEFECTS.get(procedure)
    evaluation = re.search(r"ResultsEvaluation\((.*?)\)\s*$", output, re.MULTILINE)
    if defect is None or evaluation is None:
        return []
    facts = dict(re.findall(r"(\w+)=(True|False)", evaluation.group(1)))
    if not all(facts.get(k) == "True" for k in ("all_steps_evaluated", "all_steps_passed", "no_xsd_errors",
                                                  "execution_complete")):
        return []
    warnings = _warnings(output)
    return warnings if warnings and all(defect.fullmatch(w) for w in warnings) else []


_ROUND = re.compile(r"Simulate Client \(72 hours\)\.\[(\d+)\] Attempt \d+: Success with all checks passing")


def rounds_without_failure(output: str) -> int:
    """For S-ALL-50 stopped by its timeout: the rounds it ran if every one passed with nothing else wrong, else 0."""
    if "Aborting test due to timeout" not in output or _warnings(output):
        return 0
    if re.search(r"Check Failure|Exception|XSD|Failed(?! *│ *│)", output.split("Aborting test due to timeout")[0]):
        return 0
    evaluation = re.search(r"ResultsEvaluation\((.*?)\)\s*$", output, re.MULTILINE)
    facts = dict(re.findall(r"(\w+)=(True|False)", evaluation.group(1))) if evaluation else {}
    if facts.get("no_warnings") != "True" or facts.get("no_xsd_errors") != "True":
        return 0
    return len(set(_ROUND.findall(output)))


def failure_summary(output: str) -> str:
    """Why a procedure failed: the warnings cactus logged and the failing rows of its result panel."""
    warnings = _warnings(output)
    rows = [line.strip("│ \t") for line in output.splitlines() if line.startswith("│ │")]
    reasons = [" ".join(row.split()) for row in rows if _FAILURE.search(row) and not _ZERO.match(row)]
    return " | ".join(dict.fromkeys(warnings + reasons))[:600]
