"""The store interface (store/interface.py) is the whole of what the SQLite store offers, signature for
signature: a method added to one and not the other fails here, and so will a backend that differs."""

from __future__ import annotations

import inspect

from der_gateway.store import interface
from der_gateway.store.sqlite import SQLiteStore


def _public(cls: type) -> dict[str, inspect.Signature]:
    found = {}
    for name in dir(cls):
        if name.startswith("_"):
            continue
        member = inspect.getattr_static(cls, name)
        if isinstance(member, (classmethod, staticmethod)) or not callable(member):
            continue
        found[name] = inspect.signature(member)
    return found


def test_the_sqlite_store_offers_exactly_the_interface():
    offered = _public(SQLiteStore)
    declared = _public(interface.Store)
    assert sorted(set(offered) - set(declared)) == [], "public store methods missing from store/interface.py"
    assert sorted(set(declared) - set(offered)) == [], "interface methods the SQLite store lacks"
    different = {name: (str(declared[name]), str(offered[name])) for name in declared
                 if str(declared[name]) != str(offered[name])}
    assert different == {}


def test_each_method_belongs_to_one_concern():
    concerns = [c for c in interface.Store.__mro__[1:] if c.__module__ == interface.__name__]
    owners: dict[str, list[str]] = {}
    for concern in concerns:
        for name in vars(concern):
            if not name.startswith("_"):
                owners.setdefault(name, []).append(concern.__name__)
    assert {name: where for name, where in owners.items() if len(where) > 1} == {}
    assert len(owners) == len(_public(interface.Store))
    assert all(inspect.iscoroutinefunction(getattr(interface.Store, name)) for name in owners)
