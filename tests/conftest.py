"""Real servers on loopback over mutual TLS, with certificates from der_gateway.pki."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Callable, Iterator

import aiohttp
import psycopg
import pytest
from lxml import etree

from der_gateway import pki
from der_gateway.clock import ManualClock
from der_gateway.config import Config
from der_gateway.launch import RunningServer, start_server
from der_gateway.tls import client_context
from der_gateway.xsd import load_schemas

from .pg_server import PostgresServer, as_uri, binaries, server_for_tests

SEP_XML = "application/sep+xml"


@pytest.fixture(scope="session")
def certs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    pki.init_pki(directory, devices=3)
    pki.issue(directory, "aggregator", "aggregator2")
    return directory


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL for the session (tests/pg_server.py); absent PostgreSQL skips, but fails under CI."""
    if not os.environ.get("DER_GATEWAY_TEST_POSTGRES") and binaries() is None and not os.environ.get("CI"):
        pytest.skip("PostgreSQL is not installed here")
    server = server_for_tests()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    """The DSN of a fresh, empty database of its own for one test, dropped after it."""
    dsn = postgres_server.create_database()
    try:
        yield dsn
    finally:
        postgres_server.drop_database(dsn)


@pytest.fixture(scope="session")
def foreign_certs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second, unrelated PKI: its certificates must be refused."""
    directory = tmp_path_factory.mktemp("foreign-certs")
    pki.init_pki(directory, devices=1)
    return directory


@pytest.fixture(scope="session")
def odd_certs_dir(tmp_path_factory: pytest.TempPathFactory, certs_dir: Path) -> Path:
    """Client certificates issued under certs_dir's SERCA and MICA that 2030.5 refuses for their key or
    signature (NAME.pem: the chain, leaf first; NAME.key), and "p256", one it accepts, made the same way."""
    from cryptography.hazmat.primitives import hashes

    from . import certificates as c
    directory = tmp_path_factory.mktemp("odd-certs")
    serca, mica = c.load(certs_dir, "serca"), c.load(certs_dir, "mica")
    rsa_mica = c.issue(serca, "RSA MICA", key=c.rsa2048(), ca=True, path_length=0)
    p384_mica = c.issue(serca, "P-384 MICA", key=c.p384(), ca=True, path_length=0)
    c.write(directory, "p256", c.issue(mica, "p256"), mica)
    c.write(directory, "rsa2048", c.issue(mica, "rsa2048", key=c.rsa2048()), mica)
    c.write(directory, "p384", c.issue(mica, "p384", key=c.p384()), mica)
    c.write(directory, "p256-sha384", c.issue(mica, "p256-sha384", digest=hashes.SHA384()), mica)
    c.write(directory, "p256-under-rsa-mica", c.issue(rsa_mica, "p256-under-rsa-mica"), rsa_mica)
    c.write(directory, "p256-under-p384-mica", c.issue(p384_mica, "p256-under-p384-mica", digest=hashes.SHA384()),
            p384_mica)
    return directory


@pytest.fixture(scope="session")
def identities(certs_dir: Path) -> dict[str, pki.IssuedCertificate]:
    return {c.name: c for c in pki.read_manifest(certs_dir)}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    reason: str
    element: etree._Element | None = None


@dataclass
class SepClient:
    """A 2030.5 client over a real TLS connection; checks every document it receives against the schema."""

    session: aiohttp.ClientSession
    base_url: str
    profile: str
    received: list[bytes] = field(default_factory=list)

    async def request(self, method: str, path: str, body: bytes | str | None = None,
                      content_type: str = SEP_XML, headers: dict[str, str] | None = None) -> Reply:
        data = body.encode() if isinstance(body, str) else body
        all_headers = {"Accept": SEP_XML, **(headers or {})}
        if data is not None and content_type:
            all_headers["Content-Type"] = content_type
        async with self.session.request(method, self.base_url + path, data=data, headers=all_headers) as resp:
            raw = await resp.read()
            reply = Reply(resp.status, dict(resp.headers), raw, resp.reason or "")
        if raw and reply.headers.get("Content-Type", "").startswith(SEP_XML):
            element = etree.fromstring(raw)
            errors = load_schemas(self.profile).errors(element)
            assert errors == [], f"{method} {path} returned a schema-invalid document: {errors}\n{raw!r}"
            self.received.append(raw)
            reply.element = element
        return reply

    async def get(self, path: str, **kw) -> Reply:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, body: bytes | str, **kw) -> Reply:
        return await self.request("POST", path, body, **kw)

    async def put(self, path: str, body: bytes | str, **kw) -> Reply:
        return await self.request("PUT", path, body, **kw)

    async def delete(self, path: str, **kw) -> Reply:
        return await self.request("DELETE", path, **kw)


@dataclass
class Harness:
    config: Config
    clock: ManualClock | None = None
    server: RunningServer | None = None
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)

    async def start(self) -> RunningServer:
        self.server = await start_server(self.config, clock=self.clock)
        return self.server

    @property
    def store(self):
        return self.server.store

    def execute_elsewhere(self, sql: str, params: tuple = ()) -> None:
        """One statement committed on a connection of its own, as another process sharing the data would."""
        if self.config.store is not None:
            from der_gateway.store.postgres.connection import Connection
            pg = Connection.connect(self.config.store)  # autocommit, sqlite3's placeholders
            try:
                pg.execute(sql, params)
            finally:
                pg.close()
            return
        conn = sqlite3.connect(self.server.store.path)
        try:
            with conn:
                conn.execute(sql, params)
        finally:
            conn.close()

    def store_args(self) -> list[str]:
        """The command-line arguments by which a CLI command finds this server's data."""
        return ["--data-dir", str(self.config.data_dir)] + (["--store", self.config.store] if self.config.store else [])

    async def stop(self) -> None:
        for s in self.sessions:
            await s.close()
        self.sessions.clear()
        if self.server is not None:
            await self.server.stop()
            self.server = None

    async def restart(self) -> None:
        port = self.server.port
        await self.stop()
        self.config.port = port
        await self.start()

    def client(self, name: str | None, certs: Path | None = None, ciphers: str | None = None) -> SepClient:
        ctx = client_context(certs or self.config.certs_dir, name, ciphers or self.config.ciphers)
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx))
        self.sessions.append(session)
        return SepClient(session, self.server.url, self.config.profile)

    def snapshot(self) -> dict[str, list[tuple]]:
        """Every row of every table, to show a refused request changed nothing; but for the notifier's
        queues (the change log and the outbox), which the background drains whenever it likes, and the
        response cache's change counters, which count writes rather than hold data; nor the clients' last contacts,
        which the server writes every few seconds."""
        skipped = ("changes", "outbox", "cache_generations", "end_device_contacts")
        # a queued sync message's delivery state moves with the background's attempts, as the outbox's does
        columns = {"sync_messages": "id, endpoint_id, kind, enrollment_id, body, created"}
        if self.config.store is not None:
            with psycopg.connect(self.config.store) as pg:
                tables = [r[0] for r in pg.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
                    "AND table_type = 'BASE TABLE'").fetchall() if r[0] not in skipped]
                return {t: sorted(pg.execute(f"SELECT {columns.get(t, '*')} FROM {t}").fetchall(), key=repr)
                        for t in tables}
        conn = sqlite3.connect(self.server.store.path)
        try:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                                 f"AND name NOT IN {skipped}")]
            return {t: conn.execute(f"SELECT {columns.get(t, '*')} FROM {t} ORDER BY rowid").fetchall() for t in tables}
        finally:
            conn.close()


# the backends the end-to-end tests run on (each test of a harness runs on each): DER_GATEWAY_TEST_BACKENDS,
# comma-separated; both by default
HARNESS_BACKENDS = tuple(os.environ.get("DER_GATEWAY_TEST_BACKENDS", "sqlite,postgresql").split(","))


@pytest.fixture(params=HARNESS_BACKENDS)
def store_location(request: pytest.FixtureRequest) -> str | None:
    """Config.store of the servers a test starts: None for SQLite in the data directory, or a fresh database."""
    if request.param == "sqlite":
        return None
    return as_uri(request.getfixturevalue("postgres_dsn"))


@pytest.fixture
def make_harness(tmp_path: Path, certs_dir: Path, store_location: str | None) -> Callable[..., Harness]:
    def make(clock: ManualClock | None = None, **overrides) -> Harness:
        settings = dict(port=0, admin_port=0, admin_token="test-admin-token-0123456789", data_dir=tmp_path / "var",
                        certs_dir=certs_dir, store=store_location)
        settings.update(overrides)
        return Harness(Config(**settings), clock)
    return make


@pytest.fixture
async def harness(make_harness) -> AsyncIterator[Harness]:
    h = make_harness()
    await h.start()
    yield h
    await h.stop()


@pytest.fixture
async def aus_harness(make_harness) -> AsyncIterator[Harness]:
    h = make_harness(profile="csip-aus")
    await h.start()
    yield h
    await h.stop()
