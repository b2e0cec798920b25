"""The walk of a 2030.5 resource tree from /dcap: each linked resource fetched once, in depth-first order.

It needs only `fetch(href) -> (status, body)`, so it runs against a live server or the server's own application
alike (cli/walk.py prints a walk; the admin API shows a device's tree).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from . import codec, model

_ROOTS = tuple(codec.ROOTS.values())
LIST_LIMIT = 100  # items asked of each list
MAX_RESOURCES = 2000  # a walk stops after this many fetches


@dataclass(frozen=True)
class Visited:
    href: str
    type: str  # the document's element name; for a failed fetch, the name of the link that led to it
    depth: int
    status: int
    body: bytes


def children(obj: Any) -> tuple[list[tuple[str, model.Link]], list[model.Resource]]:
    """The links a document holds, with their field names, and the resources it lists inline."""
    links: list[tuple[str, model.Link]] = []
    items: list[model.Resource] = []

    def visit(value: Any, name: str) -> None:
        if isinstance(value, model.Link):
            links.append((name, value))
        elif isinstance(value, list):
            for v in value:
                if isinstance(v, model.Resource) and v.href:
                    items.append(v)
                else:
                    visit(v, name)
        elif dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                visit(getattr(value, f.name), f.name)

    for f in dataclasses.fields(obj):
        visit(getattr(obj, f.name), f.name)
    return links, items


def fetched_href(href: str, is_list: bool, limit: int = LIST_LIMIT) -> str:
    """What the walk GETs for a link: a list with ?l=limit."""
    return f"{href}?l={limit}" if is_list else href


async def walk_resources(fetch: Callable[[str], Awaitable[tuple[int, bytes]]], root: str = "/dcap", *,
                         limit: int = LIST_LIMIT, most: int = MAX_RESOURCES) -> list[Visited]:
    """Every resource reachable from root by links and list items, each fetched once (lists with ?l=limit),
    depth first in document order, at most `most` of them."""
    visited: list[Visited] = []
    seen: set[str] = set()

    async def node(href: str, name: str, is_list: bool, depth: int) -> None:
        if href in seen or len(visited) >= most:
            return
        seen.add(href)
        status, body = await fetch(fetched_href(href, is_list, limit))
        obj: Any = None
        if status == 200:
            try:
                obj = codec.decode_bytes(body, _ROOTS)
            except codec.DecodeError:
                obj = None
        visited.append(Visited(href, type(obj).__name__ if obj is not None else name.removesuffix("Link"), depth,
                               status, body))
        if obj is None:
            return
        links, items = children(obj)
        for item in items:
            await node(item.href or "", type(item).__name__, False, depth + 1)
        for field_name, link in links:
            await node(link.href, field_name, isinstance(link, model.ListLink), depth + 1)

    await node(root, "DeviceCapability", False, 0)
    return visited
