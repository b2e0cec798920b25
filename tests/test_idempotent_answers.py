"""Answers kept under an Idempotency-Key: the store keeps each first answer as the caller's side serialized it,
with its outcome (not an HTTP status: the edge chooses that); answers kept before schema 9 replay as they were."""

from __future__ import annotations

import json
import sqlite3

from der_gateway.domain.utility import Idempotency
from der_gateway.refusal_status import status_of_outcome
from der_gateway.services import utility_json
from der_gateway.store.migrations import MIGRATIONS
from der_gateway.store.sqlite import SQLiteStore
from der_gateway.store.utility_records import CREATED, Replayed

KEPT = {"serviceTask": {"id": 7, "kind": "interconnect", "state": "Pending"}}


async def test_answers_kept_before_schema_9_replay_as_created(tmp_path):
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    conn = sqlite3.connect(data_dir / "der-gateway.sqlite3", isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:8], start=1):
        conn.executescript(f"BEGIN; {script}; PRAGMA user_version={number}; COMMIT;")
    conn.execute("INSERT INTO idempotent_requests (key, caller, operation, request_digest, status, response, created) "
                 "VALUES ('k', 'admin', 'interconnectDER', 'd', 201, ?, 1)", (json.dumps(KEPT),))
    conn.close()

    store = await SQLiteStore.open(data_dir)
    try:
        replayed = await store.idempotent_answer(Idempotency("k", "admin", "interconnectDER", "d"))
        assert replayed == Replayed(CREATED, json.dumps(KEPT))
        assert json.loads(utility_json.answer_text(replayed)) == KEPT
        assert status_of_outcome(replayed.outcome) == 201
    finally:
        await store.close()
    conn = sqlite3.connect(data_dir / "der-gateway.sqlite3")
    try:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(idempotent_requests)")]
    finally:
        conn.close()
    assert "status" not in columns and "outcome" in columns
