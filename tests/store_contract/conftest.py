"""The store contract: every backend behind the store interface passes these tests.

The `store` fixture is parametrized by backend; a new backend adds its opener to BACKENDS, nothing else.
Each opener opens a store on the data kept under a directory, so that a test can open a second store
object on the same data (`open_store`) to see what is durable and what another writer committed.
"""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import pytest

from der_gateway.store.base import EndDeviceRecord
from der_gateway.store.postgres.store import PostgresStore
from der_gateway.store.sqlite import SQLiteStore

from .. import pg_server

BACKENDS: dict[str, Callable[[Path], Awaitable]] = {
    "sqlite": lambda data: SQLiteStore.open(data),
    # a database of the session's PostgreSQL for each data directory
    "postgresql": lambda data: PostgresStore.open_dsn(pg_server.database_for(data)),
}
# the session fixture a backend's opener needs started
SERVERS = {"postgresql": "postgres_server"}
# Tests PostgreSQL fails until the store's SQL is portable: list_index and the list pages query list_counts.owner
# (TEXT there; SQLite's column has no type) with integer owners, which PostgreSQL will not compare with text.
# Strict: once they pass, this list must go.


@pytest.fixture(params=sorted(BACKENDS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator:
    if request.param in SERVERS:
        request.getfixturevalue(SERVERS[request.param])
    opened = await BACKENDS[request.param](tmp_path / "store")
    try:
        yield opened
    finally:
        await opened.close()
        if request.param == "postgresql":
            pg_server.SESSION.release_database_for(str(tmp_path / "store"))


@pytest.fixture
async def open_store(request: pytest.FixtureRequest, tmp_path: Path, store) -> AsyncIterator:
    """Opens another store object on the data `store` uses; each is closed after the test."""
    backend = request.node.callspec.params["store"]
    opened = []

    async def open_() -> object:
        s = await BACKENDS[backend](tmp_path / "store")
        opened.append(s)
        return s

    try:
        yield open_
    finally:
        for s in opened:
            await s.close()


def lfdi_of(n: int) -> str:
    """A distinct 40-hex-digit LFDI for each n."""
    return f"{n:040X}"


def device(n: int, *, sfdi: int | None = None, owner: str | None = None, changed: int = 1_700_000_000,
           enabled: bool = True, category: str | None = None) -> EndDeviceRecord:
    """A new EndDevice's record (id 0: the store assigns one)."""
    lfdi = lfdi_of(n)
    return EndDeviceRecord(id=0, lFDI=lfdi, sFDI=sfdi if sfdi is not None else 1000 + n,
                           owner_lfdi=owner or lfdi, changedTime=changed, pIN=111115,
                           dateTimeRegistered=changed, deviceCategory=category, enabled=enabled)
