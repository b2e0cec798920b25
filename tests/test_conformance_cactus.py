"""The CSIP-AUS certification harness (bsgip's cactus-client, from PyPI) against der-gateway, strictly.

Every procedure that finishes in under two minutes runs here, each on a fresh server; the long ones
(runner.LONG) run in the full `der-gateway conformance`.  cactus needs Python 3.12+: without one this test
is skipped, unless DER_GATEWAY_CONFORMANCE=required (as .ci/run sets), when it fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from der_gateway.conformance import harness, runner, verdict

WORK_DIR = Path(__file__).resolve().parents[1] / "var" / "conformance"


def _python() -> str:
    try:
        return harness.find_python()
    except harness.HarnessError as exc:
        if os.environ.get("DER_GATEWAY_CONFORMANCE") == "required":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def test_every_short_csip_aus_procedure_passes_strictly():
    python = _python()
    completed = subprocess.run(
        [sys.executable, "-m", "der_gateway", "conformance", "--quick", "--jobs", "3", "--python", python,
         "--work-dir", str(WORK_DIR)], capture_output=True, text=True, timeout=3600)
    print(completed.stdout[-20000:], completed.stderr[-5000:])
    results = {r["procedure"]: r for r in json.loads((WORK_DIR / "results.json").read_text())}
    expected = sorted(set(harness.install(WORK_DIR, python, WORK_DIR / "install.log").procedures())
                      - set(runner.LONG))
    assert sorted(results) == expected and len(expected) >= 56
    failed = {p: r["detail"] for p, r in results.items() if not r["passed"]}
    assert failed == {}, failed
    assert {p for p, r in results.items() if r["waived"]} <= set(verdict.HARNESS_DEFECTS)
    assert completed.returncode == 0
