"""A write the stored state does not allow is refused with the domain's Conflict (domain/refusals.py) and
changes nothing, whatever the backend.  The edge
catches Conflict, never a backend's own constraint error, which another backend would not raise."""

from __future__ import annotations

import pytest

from der_gateway.domain.refusals import Conflict

from .conftest import device
from .utility_world import build, enrolled

async def test_a_taken_program_mrid_is_a_conflict(store):
    await store.create_program("A" * 32, "p", 1)
    try:
        with pytest.raises(Conflict):
            await store.create_program("A" * 32, "q", 2)
    finally:
        assert len(await store.programs()) == 1


async def test_a_taken_end_device_identity_is_a_conflict(store):
    first = await store.create_end_device(device(1))
    try:
        with pytest.raises(Conflict):
            await store.create_end_device(device(1, sfdi=999))
    finally:
        assert await store.all_end_devices() == [first]


async def test_a_taken_sync_endpoint_name_is_a_conflict(store):
    await store.create_sync_endpoint("ops", "https://a/")
    try:
        with pytest.raises(Conflict):
            await store.create_sync_endpoint("ops", "https://b/")
    finally:
        assert [e.url for e in await store.sync_endpoints()] == ["https://a/"]


async def test_deleting_a_program_an_asset_type_defaults_to_is_a_conflict(store):
    world = await build(store)
    try:
        with pytest.raises(Conflict):
            await store.delete_program(world.program)
    finally:
        assert await store.program(world.program) is not None


async def test_deleting_a_program_s_enrollment_group_is_a_conflict(store):
    world = await build(store)
    await enrolled(store, 1)
    group = (await store.program_rules(world.program)).group_id
    try:
        with pytest.raises(Conflict):
            await store.delete_group(group)
    finally:
        assert await store.group(group) is not None
        assert (await store.program_rules(world.program)).group_id == group
