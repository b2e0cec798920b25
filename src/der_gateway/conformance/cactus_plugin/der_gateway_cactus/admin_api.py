"""A small client of der-gateway's admin API (JSON over HTTP, bearer token)."""

from __future__ import annotations

import os
from typing import Any

import aiohttp

URL_VARIABLE = "DER_GATEWAY_ADMIN_URL"
TOKEN_VARIABLE = "DER_GATEWAY_ADMIN_TOKEN"


class AdminApiError(Exception):
    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path}: {status} {body}")
        self.status = status


class AdminApi:
    def __init__(self, base_url: str, token: str) -> None:
        self._base = base_url.rstrip("/")
        self._session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"},
                                              timeout=aiohttp.ClientTimeout(total=60))

    @classmethod
    def from_environment(cls) -> AdminApi:
        try:
            return cls(os.environ[URL_VARIABLE], os.environ[TOKEN_VARIABLE])
        except KeyError as missing:
            raise RuntimeError(f"set {URL_VARIABLE} and {TOKEN_VARIABLE} to reach der-gateway's admin API; "
                               f"{missing} is missing") from None

    async def close(self) -> None:
        await self._session.close()

    async def call(self, method: str, path: str, body: Any = None, *, missing_ok: bool = False) -> Any:
        """The decoded answer; None for 204, or for 404 when missing_ok."""
        async with self._session.request(method, self._base + path, json=body) as response:
            text = await response.text()
            if response.status == 404 and missing_ok:
                return None
            if response.status >= 400:
                raise AdminApiError(method, path, response.status, text)
            return await response.json() if text else None
