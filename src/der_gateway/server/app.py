"""The aiohttp application: error, identity and cache middleware around the route tables."""

from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

from ..clock import Clock, SystemClock
from ..config import Config
from ..domain.clients import Client
from ..domain.refusals import Rejected
from ..observability.metrics import CACHE_HITS, CACHE_MISSES
from ..observability.requests import flush_requests, observe_requests
from ..observability.tracking import LFDI_KEY, Tracking
from ..refusal_status import status_of
from ..store import Store
from ..xsd import SchemaSet
from ..sep import paths
from .contacts import ContactLog
from .cache import UNKNOWN, ResponseCache, answer_key, topics_read
from ..services.documents import encode_paced
from .page_process import PAGES, page_process
from .http import INVALID_FORMAT, Problem, SepResponse, error_response
from .identity import ConnectionIdentities, ProxiedCertificates
from .routes import ALL
from .routes.aggregator_api import PREFIX as AGGREGATOR_API
from .state import CLIENT, CLOCK, CONFIG, CONTACTS, IDENTITIES, RESPONSE_CACHE, SCHEMAS, STORE

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def answer_problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as exc:
        return error_response(request.app[CONFIG], exc.status, exc.reason, exc.reason_code)
    except Rejected as exc:
        return error_response(request.app[CONFIG], status_of(exc), exc.reason)
    except web.HTTPMethodNotAllowed as exc:
        response = error_response(request.app[CONFIG], 405, f"{request.method} is not allowed on {request.path}",
                                  INVALID_FORMAT)
        response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return response
    except web.HTTPNotFound:
        return error_response(request.app[CONFIG], 404, f"no resource at {request.path}")
    except web.HTTPRequestEntityTooLarge:
        return error_response(request.app[CONFIG], 413, "request body too large")


REVOKED = "the operator has revoked this client certificate's access"
SUSPENDED = "the utility has suspended this aggregator: it may not act for any device until it is reinstated"


async def _refusal(store: Store, lfdi: str) -> str | None:
    """Why the caller is cut off, if it is: the operator revoked its certificate, or it is a suspended aggregator."""
    if await store.client_revoked_at(lfdi) is not None:
        return REVOKED
    if await store.aggregator_suspended(lfdi):
        return SUSPENDED
    return None


def _refuses(refusal: object, path: str) -> bool:
    """The aggregator API answers a suspended aggregator itself, in its JSON."""
    return isinstance(refusal, str) and not (refusal == SUSPENDED and path.startswith(AGGREGATOR_API + "/"))


def identify_and_cache(identities: ConnectionIdentities, cache: ResponseCache, contacts: ContactLog,
                       max_list_limit: int) -> Callable:
    """Names the caller, refuses it if the operator has revoked its access or suspended it (an aggregator), notes
    its contact, then answers a repeated GET from the cache while the store is unchanged and, for an answer built
    from the clock, until it changes."""
    hits, misses = CACHE_HITS.labels("response"), CACHE_MISSES.labels("response")

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        lfdi = identities.lfdi(request)
        request[LFDI_KEY] = lfdi
        if not identities.in_process(request):
            contacts.note(lfdi)
        store = request.app[STORE]
        key = answer_key(request, max_list_limit) if cache.cacheable(request) else None
        if key is None:
            refused = await _refusal(store, lfdi)
            if refused is not None and _refuses(refused, request.path):
                raise Problem(403, refused)
            request[CLIENT] = Client(lfdi, await store.is_aggregator(lfdi))
            response = await handler(request)
            if not identities.in_process(request):
                contacts.note_answered(request.path, response.status)
            return response
        version = await store.generations(topics_read(request.path))
        refusal = cache.revoked_at(lfdi, version[0])
        if refusal is UNKNOWN:
            refusal = await _refusal(store, lfdi)
            cache.note_revoked_at(lfdi, version[0], refusal)
        if isinstance(refusal, str) and _refuses(refusal, request.path):
            raise Problem(403, refusal)
        now = request.app[CLOCK].now()
        cached = cache.lookup(lfdi, key, version, now)
        if cached is not None:
            hits.inc()
            contacts.note_answered(request.path, cached.status)
            return cached
        misses.inc()
        request[CLIENT] = Client(lfdi, await store.is_aggregator(lfdi))
        response = await handler(request)
        cache.keep(lfdi, key, version, response, now)
        contacts.note_answered(request.path, response.status)
        return response

    return middleware


@web.middleware
async def encode_resources(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Writes the body of a SepResponse, inside the cache, which keeps the encoded answer."""
    response = await handler(request)
    if isinstance(response, SepResponse) and response.body is None:
        response.body = await encode_paced(request.app[CONFIG], response.resource)
    return response


def create_app(config: Config, store: Store, schemas: SchemaSet, clock: Clock | None = None,
               tracking: Tracking | None = None) -> web.Application:
    proxied = (ProxiedCertificates(config.proxy_cert_header, config.trusted_proxies, config.certs_dir,
                                   config.proxy_verified_certificates) if config.proxy_mode else None)
    cache = ResponseCache(config.response_cache_bytes, time_dependent=paths.TIME_DEPENDENT)
    clock = clock or SystemClock()
    contacts = ContactLog(store, clock)
    identities = ConnectionIdentities(proxied)
    app = web.Application(middlewares=[observe_requests("sep", tracking), answer_problems,
                                       identify_and_cache(identities, cache, contacts, config.max_list_limit),
                                       encode_resources],
                          client_max_size=config.max_body_bytes)
    app.on_startup.append(contacts.on_startup)
    app.on_cleanup.append(contacts.on_cleanup)
    app.on_cleanup.append(flush_requests)
    app[PAGES] = page_process(config, store)
    app.on_cleanup.append(app[PAGES].close)
    app[CONFIG] = config
    app[STORE] = store
    app[SCHEMAS] = schemas
    app[CLOCK] = clock
    app[RESPONSE_CACHE] = cache
    app[CONTACTS] = contacts
    app[IDENTITIES] = identities
    for table in ALL:
        app.add_routes(table)
    return app
