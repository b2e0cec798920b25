"""The 2030.5 application asked from within this process, as a given client: over a Unix socket of its own runner,
in a directory only this user can enter, whose requests name their LFDI in a header (identity.AS_LFDI) that is
honoured on that socket alone.  The admin API walks a device's tree through it, so that it sees what the device
sees, through the same handlers, access rules and cache."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import aiohttp
from aiohttp import web

from .http import SEP_XML
from .identity import AS_LFDI, ConnectionIdentities
from .state import IDENTITIES


class InProcessClient:
    def __init__(self, runner: web.AppRunner) -> None:
        self.runner = runner
        self._dir: Path | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="der-gateway-"))  # mode 0700
        path = str(self._dir / "sep.sock")
        identities = self.runner.app[IDENTITIES]
        assert isinstance(identities, ConnectionIdentities)
        identities.own_sockets.add(path)
        await web.UnixSite(self.runner, path).start()
        self._session = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=path))

    async def get(self, lfdi: str, href: str) -> tuple[int, bytes]:
        """The status and body of GET href as the client with this LFDI would have them."""
        if self._session is None:
            raise RuntimeError("the in-process client is not started")
        async with self._session.get(f"http://der-gateway{href}",
                                     headers={AS_LFDI: lfdi, "Accept": SEP_XML}) as resp:
            return resp.status, await resp.read()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
