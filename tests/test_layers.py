"""The one-way layering declared in pyproject.toml ([tool.importlinter]) holds: import-linter checks every
import of the package, so an import against the layers fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_import_runs_against_the_layers():
    # in a process of its own: import-linter configures logging with dictConfig, which would disable every
    # logger this test session has made
    run = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                          "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True))"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
