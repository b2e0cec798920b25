"""Bearer-token authentication: every request but to a route declared public (the console's files, /health)
must carry "Authorization: Bearer <token>"."""

from __future__ import annotations

import hmac
import secrets
from typing import Awaitable, Callable

from aiohttp import web

from .http import ApiError
from .state import PUBLIC, TOKEN

MIN_TOKEN_LENGTH = 16

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def check_token(token: str) -> str:
    if len(token) < MIN_TOKEN_LENGTH or token != token.strip():
        raise ValueError(f"admin_token must be at least {MIN_TOKEN_LENGTH} characters, without surrounding spaces")
    return token


def presented(request: web.Request) -> bytes | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip().encode()


@web.middleware
async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.route.handler in request.app[PUBLIC]:
        return await handler(request)  # a public route (the console's files ask for the token themselves)
    given = presented(request)
    if given is None or not hmac.compare_digest(given, request.app[TOKEN].encode()):
        reason = "a bearer token is required" if given is None else "the bearer token is wrong"
        raise ApiError(401, reason, headers={"WWW-Authenticate": 'Bearer realm="der-gateway admin"'})
    return await handler(request)
