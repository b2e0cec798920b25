"""`der-gateway demo`, README.md's main job, run as a user runs it: a small fleet and a short event."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_a_whole_event_and_exits_cleanly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "der_gateway", "demo", "--devices", "3", "--event-seconds", "4",
         "--lead-seconds", "3", "--data-dir", str(tmp_path / "var"), "--certs-dir", str(tmp_path / "certs")],
        capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "enrolled 3 devices" in out and "every enrollment task Completed" in out
    assert "responses          received 3, started 3, completed 3" in out
    assert "result             OK" in out
    before, during, after = (float(x.strip(",")) for x in
                             out.split("total W (Modbus)")[1].split("\n")[0].split()[1::2])
    assert during < 0.45 * before and after > 0.8 * before
