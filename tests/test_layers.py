"""The one-way layering declared in pyproject.toml ([tool.importlinter]) holds: import-linter checks every
import of the package, so an import against the layers fails here."""

from __future__ import annotations

from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent


def test_no_import_runs_against_the_layers(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0
