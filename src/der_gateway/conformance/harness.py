"""The CSIP-AUS conformance harness (bsgip's cactus-client, from PyPI) in virtual environments of its own.

cactus needs Python 3.12 or newer, and its notification receiver conflicts with its pins, so each gets a venv.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CACTUS_CLIENT = "cactus-client==1.3.3"
CACTUS_NOTIFICATIONS = "cactus-client-notifications==0.1.0"
PLUGIN_DIR = Path(__file__).parent / "cactus_plugin"

_LIST_PROCEDURES = """
import json
from cactus_test_definitions.server.test_procedures import get_all_test_procedures
print(json.dumps({str(i): [[c.id, str(c.client_type or "")] for c in p.preconditions.required_clients]
                  for i, p in get_all_test_procedures().items()}))
"""


class HarnessError(Exception):
    pass


@dataclass(frozen=True)
class RequiredClient:
    alias: str
    kind: str  # "device", "aggregator" or "" (either)


@dataclass(frozen=True)
class Harness:
    venv: Path
    notifications_venv: Path

    @property
    def cactus(self) -> Path:
        return self.venv / "bin" / "cactus"

    @property
    def notifications_python(self) -> Path:
        return self.notifications_venv / "bin" / "python"

    def procedures(self) -> dict[str, list[RequiredClient]]:
        """Every procedure the installed test definitions hold, with the clients each needs, in cactus's order."""
        out = subprocess.run([str(self.venv / "bin" / "python"), "-c", _LIST_PROCEDURES],
                             check=True, capture_output=True, text=True).stdout
        return {pid: [RequiredClient(alias, kind) for alias, kind in clients]
                for pid, clients in json.loads(out).items()}


def find_python(explicit: str | None = None) -> str:
    """A Python 3.12 or newer: the one given, the one on PATH, or one pyenv installed."""
    candidates: list[str | None] = [explicit] if explicit else []
    candidates += [shutil.which(f"python3.{minor}") for minor in (12, 13, 14)]
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/3.1[2-9]*/bin/python"))
    if sys.version_info >= (3, 12):
        candidates.append(sys.executable)
    for candidate in filter(None, candidates):
        try:
            version = subprocess.run([candidate, "-c", "import sys; print(sys.version_info >= (3, 12))"],
                                     capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        if version == "True":
            return candidate
    raise HarnessError("cactus-client needs Python 3.12 or newer and none was found; pass --python PATH")


def install(work_dir: Path, python: str, log: Path) -> Harness:
    """Creates (or reuses) the two venvs and installs cactus, its notification receiver and our admin plugin."""
    harness = Harness(work_dir / "cactus-venv", work_dir / "notifications-venv")
    wanted = {harness.venv: [CACTUS_CLIENT, str(PLUGIN_DIR)], harness.notifications_venv: [CACTUS_NOTIFICATIONS]}
    with log.open("a") as out:
        for venv, packages in wanted.items():
            marker, stamp = venv / "der-gateway-installed.json", [*packages, _plugin_digest()]
            if marker.exists() and json.loads(marker.read_text()) == stamp:
                continue
            shutil.rmtree(venv, ignore_errors=True)
            for command in ([python, "-m", "venv", str(venv)],
                            [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                             *packages]):
                if subprocess.run(command, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                    raise HarnessError(f"{' '.join(command)} failed; see {log}")
            marker.write_text(json.dumps(stamp))
    return harness


def _plugin_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(PLUGIN_DIR.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(PLUGIN_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
