"""Schema versions of the SQLite store, applied in order on start-up (PRAGMA user_version)."""

from . import kept_counts
from .list_index import (LEVELS, TIME, WIDE, IntegerBuckets, TextBuckets, bucket_counts, counting_triggers,
                         newest_first_key_sql, newest_first_sql, oldest_first_key_sql, total_triggers)

MIGRATIONS: list[str] = [
    # 1: clients, EndDevices and their DER resources, log events, mirrors
    """
    CREATE TABLE aggregators (
        lfdi TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE TABLE end_devices (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        lfdi TEXT NOT NULL UNIQUE,
        sfdi INTEGER NOT NULL UNIQUE,
        owner_lfdi TEXT NOT NULL,
        changed_time INTEGER NOT NULL,
        pin INTEGER NOT NULL,
        registered_at INTEGER NOT NULL,
        device_category TEXT,
        enabled INTEGER NOT NULL DEFAULT 1,
        post_rate INTEGER,
        connection_point_id TEXT
    );
    CREATE INDEX end_devices_owner ON end_devices (owner_lfdi);
    CREATE TABLE ders (
        end_device_id INTEGER NOT NULL REFERENCES end_devices (id) ON DELETE CASCADE,
        n INTEGER NOT NULL,
        PRIMARY KEY (end_device_id, n)
    );
    CREATE TABLE der_documents (
        end_device_id INTEGER NOT NULL,
        n INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('dercap', 'derg', 'ders', 'dera')),
        body TEXT NOT NULL,
        PRIMARY KEY (end_device_id, n, kind),
        FOREIGN KEY (end_device_id, n) REFERENCES ders (end_device_id, n) ON DELETE CASCADE
    );
    CREATE TABLE log_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        end_device_id INTEGER NOT NULL REFERENCES end_devices (id) ON DELETE CASCADE,
        created INTEGER NOT NULL,
        log_event_id INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX log_events_order ON log_events (end_device_id, created DESC, log_event_id DESC);
    CREATE TABLE mirror_usage_points (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        owner_lfdi TEXT NOT NULL,
        mrid TEXT NOT NULL,
        body TEXT NOT NULL,
        UNIQUE (owner_lfdi, mrid)
    );
    CREATE TABLE mirror_meter_readings (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        mup_id INTEGER NOT NULL REFERENCES mirror_usage_points (id) ON DELETE CASCADE,
        mrid TEXT NOT NULL,
        body TEXT NOT NULL,
        UNIQUE (mup_id, mrid)
    );
    CREATE TABLE readings (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        mmr_id INTEGER NOT NULL REFERENCES mirror_meter_readings (id) ON DELETE CASCADE,
        reading_set_mrid TEXT,
        start INTEGER,
        duration INTEGER,
        value INTEGER,
        body TEXT NOT NULL,
        received INTEGER NOT NULL
    );
    CREATE INDEX readings_by_mmr ON readings (mmr_id, start);
    """,
]

MIGRATIONS.append(
    # 2: the control plane: programs, their defaults, curves and events; groups (FSAs),
    # access grants, responses, subscriptions, and the change log and notification outbox
    """
    CREATE TABLE programs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        mrid TEXT NOT NULL UNIQUE,
        description TEXT,
        primacy INTEGER NOT NULL,
        version INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE default_controls (
        program_id INTEGER PRIMARY KEY REFERENCES programs (id) ON DELETE CASCADE,
        mrid TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE TABLE curves (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        program_id INTEGER NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
        mrid TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL
    );
    CREATE TABLE controls (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        program_id INTEGER NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
        mrid TEXT NOT NULL UNIQUE,
        creation_time INTEGER NOT NULL,
        start INTEGER NOT NULL,
        duration INTEGER NOT NULL,
        body TEXT NOT NULL,
        status INTEGER NOT NULL,
        status_time INTEGER NOT NULL,
        potentially_superseded_time INTEGER,
        cancelled_at INTEGER
    );
    CREATE INDEX controls_by_program ON controls (program_id, start, creation_time DESC);
    CREATE TABLE groups (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        mrid TEXT NOT NULL UNIQUE,
        description TEXT,
        version INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE group_members (
        group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
        end_device_id INTEGER NOT NULL REFERENCES end_devices (id) ON DELETE CASCADE,
        PRIMARY KEY (group_id, end_device_id)
    );
    CREATE INDEX group_members_by_device ON group_members (end_device_id);
    CREATE TABLE group_programs (
        group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
        program_id INTEGER NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
        PRIMARY KEY (group_id, program_id)
    );
    CREATE TABLE end_device_access (
        end_device_id INTEGER NOT NULL REFERENCES end_devices (id) ON DELETE CASCADE,
        client_lfdi TEXT NOT NULL,
        PRIMARY KEY (end_device_id, client_lfdi)
    );
    CREATE INDEX end_device_access_by_client ON end_device_access (client_lfdi);
    CREATE TABLE responses (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        control_id INTEGER NOT NULL REFERENCES controls (id) ON DELETE CASCADE,
        end_device_lfdi TEXT NOT NULL,
        status INTEGER NOT NULL,
        created INTEGER NOT NULL,
        received INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX responses_by_control ON responses (control_id, end_device_lfdi, received);
    CREATE TABLE subscriptions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        end_device_id INTEGER NOT NULL REFERENCES end_devices (id) ON DELETE CASCADE,
        client_lfdi TEXT NOT NULL,
        resource TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX subscriptions_by_resource ON subscriptions (resource);
    CREATE TABLE changes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        resource TEXT NOT NULL,
        status INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        subscription_id INTEGER NOT NULL,
        uri TEXT NOT NULL,
        body BLOB NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt INTEGER NOT NULL,
        last_error TEXT
    );
    CREATE INDEX outbox_by_uri ON outbox (uri, id);
    CREATE TABLE rates (
        resource TEXT PRIMARY KEY,
        poll_rate INTEGER,
        post_rate INTEGER
    );
    """
)

MIGRATIONS.append(
    # 3: the utility's side: customers, service points and where they sit on the network, the asset
    # catalog, aggregators' authorisations, program rules and tariffs, DER assets, enrollments,
    # service tasks, idempotent requests, and the enrollment-sync outbox
    """
    CREATE TABLE customers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        external_id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'active'
    );
    CREATE TABLE accounts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
        external_id TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL DEFAULT 'active'
    );
    CREATE TABLE service_points (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        external_id TEXT NOT NULL UNIQUE,
        address TEXT,
        substation TEXT,
        feeder TEXT,
        transformer TEXT
    );
    -- a network location (substation, feeder or transformer) and the FSA group that stands for it
    CREATE TABLE network_locations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('substation', 'feeder', 'transformer')),
        name TEXT NOT NULL,
        parent_id INTEGER REFERENCES network_locations (id),
        group_id INTEGER NOT NULL REFERENCES groups (id),
        UNIQUE (kind, name)
    );
    CREATE TABLE asset_types (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        code TEXT NOT NULL UNIQUE,
        description TEXT,
        der_type INTEGER NOT NULL,
        requires_interconnection INTEGER NOT NULL DEFAULT 0,
        default_program_id INTEGER REFERENCES programs (id)
    );
    CREATE TABLE device_models (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        asset_type_id INTEGER NOT NULL REFERENCES asset_types (id),
        manufacturer TEXT NOT NULL,
        model TEXT NOT NULL,
        spec TEXT NOT NULL,
        UNIQUE (manufacturer, model)
    );
    CREATE TABLE aggregator_customers (
        aggregator_lfdi TEXT NOT NULL REFERENCES aggregators (lfdi) ON DELETE CASCADE,
        customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
        PRIMARY KEY (aggregator_lfdi, customer_id)
    );
    ALTER TABLE aggregators ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
    CREATE TABLE program_rules (
        program_id INTEGER PRIMARY KEY REFERENCES programs (id) ON DELETE CASCADE,
        code TEXT UNIQUE,
        group_id INTEGER REFERENCES groups (id),
        eligibility TEXT NOT NULL DEFAULT '{}',
        constraints TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE tariffs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        code TEXT NOT NULL UNIQUE,
        description TEXT,
        terms TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE tariff_acceptances (
        customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
        tariff_id INTEGER NOT NULL REFERENCES tariffs (id) ON DELETE CASCADE,
        accepted_at INTEGER NOT NULL,
        PRIMARY KEY (customer_id, tariff_id)
    );
    CREATE TABLE der_assets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        customer_id INTEGER NOT NULL REFERENCES customers (id),
        service_point_id INTEGER NOT NULL REFERENCES service_points (id),
        device_model_id INTEGER NOT NULL REFERENCES device_models (id),
        serial_number TEXT,
        end_device_id INTEGER REFERENCES end_devices (id) ON DELETE SET NULL,
        lfdi TEXT NOT NULL,
        nameplate TEXT NOT NULL,
        interconnection TEXT,
        status TEXT NOT NULL DEFAULT 'active',
        replaced_by INTEGER REFERENCES der_assets (id),
        created INTEGER NOT NULL
    );
    CREATE INDEX der_assets_by_lfdi ON der_assets (lfdi);
    CREATE TABLE enrollments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        der_asset_id INTEGER NOT NULL REFERENCES der_assets (id),
        program_id INTEGER NOT NULL REFERENCES programs (id),
        status TEXT NOT NULL,
        sync_status TEXT,
        sync_reason TEXT,
        created INTEGER NOT NULL,
        updated INTEGER NOT NULL
    );
    CREATE INDEX enrollments_by_asset ON enrollments (der_asset_id);
    CREATE TABLE service_tasks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('enroll', 'unenroll', 'interconnect', 'replace')),
        state TEXT NOT NULL CHECK (state IN ('Pending', 'Processing', 'Completed', 'Error', 'Cancelled')),
        der_asset_id INTEGER REFERENCES der_assets (id),
        enrollment_id INTEGER REFERENCES enrollments (id),
        payload TEXT NOT NULL DEFAULT '{}',
        approval TEXT,
        reasons TEXT NOT NULL DEFAULT '[]',
        created INTEGER NOT NULL,
        updated INTEGER NOT NULL
    );
    CREATE INDEX service_tasks_by_state ON service_tasks (state, id);
    CREATE TABLE idempotent_requests (
        key TEXT NOT NULL,
        caller TEXT NOT NULL,
        operation TEXT NOT NULL,
        request_digest TEXT NOT NULL,
        status INTEGER NOT NULL,
        response TEXT NOT NULL,
        created INTEGER NOT NULL,
        PRIMARY KEY (caller, operation, key)
    );
    CREATE TABLE sync_endpoints (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        url TEXT NOT NULL
    );
    CREATE TABLE sync_messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        endpoint_id INTEGER NOT NULL REFERENCES sync_endpoints (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        enrollment_id INTEGER REFERENCES enrollments (id),
        body TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'acknowledged', 'rejected')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        ack_reason TEXT,
        created INTEGER NOT NULL
    );
    CREATE INDEX sync_messages_queue ON sync_messages (endpoint_id, state, id);
    """
)

MIGRATIONS.append(
    # 4: mirror mRIDs found by themselves (they are unique across clients); client certificates the
    # operator has shut out; and, on a change, which clients' view of the resource it changes
    # (NULL: everyone's), for lists each client sees its own part of
    """
    CREATE INDEX mirror_usage_points_by_mrid ON mirror_usage_points (mrid);
    CREATE INDEX mirror_meter_readings_by_mrid ON mirror_meter_readings (mrid);
    CREATE TABLE revoked_clients (
        lfdi TEXT PRIMARY KEY,
        revoked INTEGER NOT NULL
    );
    ALTER TABLE changes ADD COLUMN audience TEXT;
    """
)

MIGRATIONS.append(
    # 5: a subscription's end_device_id may be NULL: it is then in the SubscriptionList of its client's own
    # EndDevice, which the server derives from an aggregator's certificate (CSIP-AUS) and does not store.
    # SQLite cannot relax NOT NULL in place: the table is rebuilt, keeping its ids and its id sequence.
    """
    CREATE TABLE subscriptions_new (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        end_device_id INTEGER REFERENCES end_devices (id) ON DELETE CASCADE,
        client_lfdi TEXT NOT NULL,
        resource TEXT NOT NULL,
        body TEXT NOT NULL
    );
    INSERT INTO subscriptions_new (id, end_device_id, client_lfdi, resource, body)
        SELECT id, end_device_id, client_lfdi, resource, body FROM subscriptions;
    DELETE FROM sqlite_sequence WHERE name = 'subscriptions_new';
    INSERT INTO sqlite_sequence (name, seq) SELECT 'subscriptions_new', seq FROM sqlite_sequence
        WHERE name = 'subscriptions';
    DROP TABLE subscriptions;
    ALTER TABLE subscriptions_new RENAME TO subscriptions;
    CREATE INDEX subscriptions_by_resource ON subscriptions (resource);
    CREATE INDEX subscriptions_by_client ON subscriptions (client_lfdi, end_device_id);
    """
)

MIGRATIONS.append(
    # 6: the last change logged when a subscription was made; it is notified of later changes only
    """
    ALTER TABLE subscriptions ADD COLUMN after_change INTEGER NOT NULL DEFAULT 0;
    """
)

MIGRATIONS.append(
    # 7: the Metering Mirror's UsagePoint side: each MirrorReadingSet received, by mRID within its
    # MirrorMeterReading (posted again, it replaces that set's Readings), and which readings are current:
    # those of each set's latest posting, and the latest Reading posted alone.  The older ones stay as history.
    """
    CREATE TABLE reading_sets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        mmr_id INTEGER NOT NULL REFERENCES mirror_meter_readings (id) ON DELETE CASCADE,
        mrid TEXT NOT NULL,
        start INTEGER NOT NULL,
        body TEXT NOT NULL,
        UNIQUE (mmr_id, mrid)
    );
    ALTER TABLE readings ADD COLUMN reading_set_id INTEGER REFERENCES reading_sets (id) ON DELETE CASCADE;
    ALTER TABLE readings ADD COLUMN current INTEGER NOT NULL DEFAULT 1;
    INSERT INTO reading_sets (mmr_id, mrid, start, body)
        SELECT mmr_id, reading_set_mrid, coalesce(min(start), 0), json_object(
            'mRID', reading_set_mrid,
            'timePeriod', json_object('duration', coalesce(max(start + duration), max(start), 0)
                                                  - coalesce(min(start), 0),
                                      'start', coalesce(min(start), 0)))
        FROM readings WHERE reading_set_mrid IS NOT NULL GROUP BY mmr_id, reading_set_mrid;
    UPDATE readings SET reading_set_id = (SELECT s.id FROM reading_sets s
                                          WHERE s.mmr_id = readings.mmr_id AND s.mrid = readings.reading_set_mrid)
        WHERE reading_set_mrid IS NOT NULL;
    UPDATE readings SET current = 0 WHERE reading_set_id IS NOT NULL AND received < (
        SELECT max(r.received) FROM readings r WHERE r.reading_set_id = readings.reading_set_id);
    UPDATE readings SET current = 0 WHERE reading_set_id IS NULL AND id < (
        SELECT max(r.id) FROM readings r WHERE r.mmr_id = readings.mmr_id AND r.reading_set_id IS NULL);
    CREATE INDEX readings_by_set ON readings (reading_set_id, current, start);
    """
)


def _bucket_counts(list_name: str, table: str, owner: str, key: str, sql_bucket, where: str = "1") -> str:
    levels = [("0", 0)] + [(sql_bucket(key, level), level) for level in range(1, LEVELS + 1)]
    return "".join(f"INSERT INTO list_counts (list, owner, level, bucket, n) SELECT '{list_name}', {owner}, {level}, "
                   f"{bucket}, count(*) FROM {table} WHERE {where} GROUP BY {owner}{'' if level == 0 else ', 4'};\n"
                   for bucket, level in levels)


MIGRATIONS.append(
    # 8: lists paged by index in O(log n): list_counts holds each long list's row count in nested buckets of its
    # sort key (see list_index.py), kept by triggers.  end_device_views holds who sees which EndDevice in their
    # EndDeviceList apart from the device itself (its owner, clients granted access), kept by triggers on every
    # write that changes it.  Indexes that match the ORDER BY of the other lists.
    """
    CREATE TABLE list_counts (
        list TEXT NOT NULL,
        owner NOT NULL,
        level INTEGER NOT NULL,
        bucket INTEGER NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (list, owner, level, bucket)
    );
    CREATE TABLE end_device_views (
        viewer TEXT NOT NULL,
        sfdi INTEGER NOT NULL,
        end_device_id INTEGER NOT NULL,
        PRIMARY KEY (viewer, sfdi)
    );
    CREATE INDEX end_device_views_by_device ON end_device_views (end_device_id);
    """
    + counting_triggers("end_device_views", "edev", "viewer", "sfdi", IntegerBuckets.sql) +
    """
    INSERT INTO end_device_views (viewer, sfdi, end_device_id)
        SELECT owner_lfdi, sfdi, id FROM end_devices WHERE owner_lfdi != lfdi;
    INSERT INTO end_device_views (viewer, sfdi, end_device_id)
        SELECT DISTINCT a.client_lfdi, e.sfdi, e.id FROM end_device_access a JOIN end_devices e ON e.id = a.end_device_id
        WHERE a.client_lfdi != e.lfdi AND a.client_lfdi != e.owner_lfdi;
    CREATE TRIGGER end_devices_viewed AFTER INSERT ON end_devices BEGIN
        INSERT INTO end_device_views (viewer, sfdi, end_device_id)
            SELECT new.owner_lfdi, new.sfdi, new.id WHERE new.owner_lfdi != new.lfdi;
    END;
    CREATE TRIGGER end_devices_unviewed AFTER DELETE ON end_devices BEGIN
        DELETE FROM end_device_views WHERE end_device_id = old.id;
    END;
    CREATE TRIGGER end_devices_reviewed AFTER UPDATE OF lfdi, sfdi, owner_lfdi ON end_devices BEGIN
        DELETE FROM end_device_views WHERE end_device_id = old.id;
        INSERT INTO end_device_views (viewer, sfdi, end_device_id)
            SELECT new.owner_lfdi, new.sfdi, new.id WHERE new.owner_lfdi != new.lfdi;
        INSERT INTO end_device_views (viewer, sfdi, end_device_id)
            SELECT client_lfdi, new.sfdi, new.id FROM end_device_access
            WHERE end_device_id = new.id AND client_lfdi != new.lfdi AND client_lfdi != new.owner_lfdi;
    END;
    CREATE TRIGGER end_device_access_viewed AFTER INSERT ON end_device_access BEGIN
        INSERT INTO end_device_views (viewer, sfdi, end_device_id)
            SELECT new.client_lfdi, e.sfdi, e.id FROM end_devices e
            WHERE e.id = new.end_device_id AND new.client_lfdi != e.lfdi AND new.client_lfdi != e.owner_lfdi;
    END;
    CREATE TRIGGER end_device_access_unviewed AFTER DELETE ON end_device_access BEGIN
        DELETE FROM end_device_views WHERE viewer = old.client_lfdi AND sfdi = (
            SELECT sfdi FROM end_devices WHERE id = old.end_device_id AND lfdi != old.client_lfdi
                AND owner_lfdi != old.client_lfdi);
    END;
    """
    + _bucket_counts("mup", "mirror_usage_points", "owner_lfdi", "mrid", TextBuckets.sql)
    + counting_triggers("mirror_usage_points", "mup", "owner_lfdi", "mrid", TextBuckets.sql,
                        columns="owner_lfdi, mrid")
    + """
    INSERT INTO list_counts (list, owner, level, bucket, n)
        SELECT 'log', end_device_id, 0, 0, count(*) FROM log_events GROUP BY end_device_id;
    INSERT INTO list_counts (list, owner, level, bucket, n)
        SELECT 'mmr', mup_id, 0, 0, count(*) FROM mirror_meter_readings GROUP BY mup_id;
    INSERT INTO list_counts (list, owner, level, bucket, n)
        SELECT 'rset', mmr_id, 0, 0, count(*) FROM reading_sets GROUP BY mmr_id;
    INSERT INTO list_counts (list, owner, level, bucket, n)
        SELECT 'sread', reading_set_id, 0, 0, count(*) FROM readings
        WHERE reading_set_id IS NOT NULL AND current = 1 GROUP BY reading_set_id;
    """
    + total_triggers("log_events", "log", "end_device_id", columns="end_device_id")
    + total_triggers("mirror_meter_readings", "mmr", "mup_id", columns="mup_id")
    + total_triggers("reading_sets", "rset", "mmr_id", columns="mmr_id")
    + total_triggers("readings", "sread", "reading_set_id", when="ROW.reading_set_id IS NOT NULL AND ROW.current = 1",
                     columns="reading_set_id, current")
    + """
    DROP INDEX log_events_order;
    CREATE INDEX log_events_order ON log_events (end_device_id, created, log_event_id);
    CREATE INDEX reading_sets_order ON reading_sets (mmr_id, start, mrid);
    CREATE INDEX responses_order ON responses (created);
    CREATE INDEX responses_by_device ON responses (end_device_lfdi, created);
    CREATE INDEX subscriptions_by_device ON subscriptions (end_device_id);
    """
)

MIGRATIONS.append(
    # 9: an idempotent request keeps what its first answer was, not an HTTP status (the edge chooses that): every
    # answer kept so far was a 201 Created
    """
    ALTER TABLE idempotent_requests ADD COLUMN outcome TEXT NOT NULL DEFAULT 'created';
    ALTER TABLE idempotent_requests DROP COLUMN status;
    """
)

MIGRATIONS.append(
    # 10: list_counts.owner is text (an LFDI, or an id written as its decimal digits), as PostgreSQL's is, so that
    # one query finds a list's counts on either backend; with TEXT affinity SQLite stores an id written by a
    # trigger as text and compares an integer parameter as text.  The table is made anew; the triggers that
    # write it name it, which legacy_alter_table leaves them doing through the rename.
    """
    PRAGMA legacy_alter_table=ON;
    CREATE TABLE list_counts_text (
        list TEXT NOT NULL,
        owner TEXT NOT NULL,
        level INTEGER NOT NULL,
        bucket INTEGER NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (list, owner, level, bucket)
    );
    INSERT INTO list_counts_text SELECT list, CAST(owner AS TEXT), level, bucket, n FROM list_counts;
    DROP TABLE list_counts;
    ALTER TABLE list_counts_text RENAME TO list_counts;
    PRAGMA legacy_alter_table=OFF;
    """
)

def _drop_triggers(table: str) -> str:
    return "".join(f"DROP TRIGGER {table}_{kind};\n" for kind in ("counted", "uncounted", "recounted"))


_LOG_KEY = newest_first_key_sql("created", "4294967295 - log_event_id")
_RESPONSE_KEY = newest_first_key_sql("created", "4294967295 - id")
_READING_KEY = oldest_first_key_sql("start", "id")
_READING_SET_KEY = newest_first_sql("start")

MIGRATIONS.append(
    # 11: the other lists the server serves paged by index as well (see list_index.py).  Lists in time order are
    # bucketed on list_key, a column SQLite computes from the time and a tie-break; their rows are put in order
    # by list_key, then by the full ORDER BY (which differs only where clamped times tie).  A client's
    # ResponseList is the union of the Responses of the LFDIs it acts for: response_views holds one row per
    # (viewer, Response), kept by triggers on responses and on end_device_views (via: the EndDevice through which
    # the viewer sees it, 0 when the viewer sent it).  Events still listed are found through their end.
    _drop_triggers("log_events") + _drop_triggers("mirror_meter_readings") + _drop_triggers("reading_sets")
    + _drop_triggers("readings")
    + f"""
    DELETE FROM list_counts WHERE list IN ('log', 'mmr', 'rset', 'sread');
    ALTER TABLE log_events ADD COLUMN list_key INTEGER GENERATED ALWAYS AS ({_LOG_KEY}) VIRTUAL;
    ALTER TABLE responses ADD COLUMN list_key INTEGER GENERATED ALWAYS AS ({_RESPONSE_KEY}) VIRTUAL;
    ALTER TABLE readings ADD COLUMN list_key INTEGER GENERATED ALWAYS AS ({_READING_KEY}) VIRTUAL;
    ALTER TABLE reading_sets ADD COLUMN list_key INTEGER GENERATED ALWAYS AS ({_READING_SET_KEY}) VIRTUAL;
    CREATE INDEX log_events_keyed ON log_events (end_device_id, list_key, created DESC, log_event_id DESC, id DESC);
    CREATE INDEX readings_keyed ON readings (reading_set_id, list_key, start, id)
        WHERE reading_set_id IS NOT NULL AND current = 1;
    CREATE INDEX reading_sets_keyed ON reading_sets (mmr_id, list_key, start DESC, mrid DESC);
    CREATE INDEX controls_by_end ON controls (program_id, (start + duration), start);
    CREATE INDEX controls_by_end_everywhere ON controls ((start + duration));
    CREATE TABLE response_views (
        viewer TEXT NOT NULL,
        list_key INTEGER NOT NULL,
        created INTEGER NOT NULL,
        response_id INTEGER NOT NULL,
        via INTEGER NOT NULL
    );
    INSERT INTO response_views (viewer, list_key, created, response_id, via)
        SELECT end_device_lfdi, list_key, created, id, 0 FROM responses;
    INSERT INTO response_views (viewer, list_key, created, response_id, via)
        SELECT v.viewer, r.list_key, r.created, r.id, v.end_device_id FROM responses r
        JOIN end_devices e ON e.lfdi = r.end_device_lfdi JOIN end_device_views v ON v.end_device_id = e.id;
    CREATE UNIQUE INDEX response_views_order ON response_views (viewer, list_key, created DESC, response_id DESC);
    CREATE INDEX response_views_by_response ON response_views (response_id);
    CREATE INDEX response_views_by_via ON response_views (via, viewer) WHERE via != 0;
    CREATE TRIGGER responses_viewed AFTER INSERT ON responses BEGIN
        INSERT INTO response_views (viewer, list_key, created, response_id, via)
            SELECT new.end_device_lfdi, new.list_key, new.created, new.id, 0
            UNION ALL
            SELECT v.viewer, new.list_key, new.created, new.id, v.end_device_id FROM end_devices e
            JOIN end_device_views v ON v.end_device_id = e.id WHERE e.lfdi = new.end_device_lfdi;
    END;
    CREATE TRIGGER responses_unviewed AFTER DELETE ON responses BEGIN
        DELETE FROM response_views WHERE response_id = old.id;
    END;
    CREATE TRIGGER responses_reviewed AFTER UPDATE OF end_device_lfdi, created ON responses BEGIN
        DELETE FROM response_views WHERE response_id = old.id;
        INSERT INTO response_views (viewer, list_key, created, response_id, via)
            SELECT new.end_device_lfdi, new.list_key, new.created, new.id, 0
            UNION ALL
            SELECT v.viewer, new.list_key, new.created, new.id, v.end_device_id FROM end_devices e
            JOIN end_device_views v ON v.end_device_id = e.id WHERE e.lfdi = new.end_device_lfdi;
    END;
    CREATE TRIGGER end_device_views_responses AFTER INSERT ON end_device_views BEGIN
        INSERT INTO response_views (viewer, list_key, created, response_id, via)
            SELECT new.viewer, r.list_key, r.created, r.id, new.end_device_id FROM end_devices e
            JOIN responses r ON r.end_device_lfdi = e.lfdi WHERE e.id = new.end_device_id;
    END;
    CREATE TRIGGER end_device_views_no_responses AFTER DELETE ON end_device_views BEGIN
        DELETE FROM response_views WHERE via = old.end_device_id AND viewer = old.viewer;
    END;
    """
    + bucket_counts("log", "log_events", "end_device_id", "list_key", WIDE.sql, levels=WIDE.levels)
    + counting_triggers("log_events", "log", "end_device_id", "list_key", WIDE.sql, levels=WIDE.levels,
                        columns="end_device_id, created, log_event_id")
    + bucket_counts("rsp", "response_views", "viewer", "list_key", WIDE.sql, levels=WIDE.levels)
    + counting_triggers("response_views", "rsp", "viewer", "list_key", WIDE.sql, levels=WIDE.levels)
    + bucket_counts("mmr", "mirror_meter_readings", "mup_id", "mrid", TextBuckets.sql)
    + counting_triggers("mirror_meter_readings", "mmr", "mup_id", "mrid", TextBuckets.sql, columns="mup_id, mrid")
    + bucket_counts("rset", "reading_sets", "mmr_id", "list_key", TIME.sql, levels=TIME.levels)
    + counting_triggers("reading_sets", "rset", "mmr_id", "list_key", TIME.sql, levels=TIME.levels,
                        columns="mmr_id, start")
    + bucket_counts("sread", "readings", "reading_set_id", "list_key", WIDE.sql,
                    where="reading_set_id IS NOT NULL AND current = 1", levels=WIDE.levels)
    + counting_triggers("readings", "sread", "reading_set_id", "list_key", WIDE.sql,
                        when="ROW.reading_set_id IS NOT NULL AND ROW.current = 1",
                        columns="reading_set_id, current, start", levels=WIDE.levels)
    + bucket_counts("sub", "subscriptions", "end_device_id", "id", WIDE.sql, where="end_device_id IS NOT NULL",
                    levels=WIDE.levels)
    + counting_triggers("subscriptions", "sub", "end_device_id", "id", WIDE.sql, when="ROW.end_device_id IS NOT NULL",
                        columns="end_device_id", levels=WIDE.levels, name="subscriptions_of_device")
    + bucket_counts("asub", "subscriptions", "client_lfdi", "id", WIDE.sql, where="end_device_id IS NULL",
                    levels=WIDE.levels)
    + counting_triggers("subscriptions", "asub", "client_lfdi", "id", WIDE.sql, when="ROW.end_device_id IS NULL",
                        columns="end_device_id, client_lfdi", levels=WIDE.levels, name="subscriptions_of_client")
)


MIGRATIONS.append(
    # membership history: every change to a group's members, when, by whom (operator, enrollment, unenrollment,
    # retirement, move-out) and why; it outlives the group and the EndDevice, so it has no foreign keys.  DER
    # assets are found by their EndDevice when a membership is judged.
    """
    CREATE TABLE membership_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        group_id INTEGER NOT NULL,
        end_device_id INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('joined', 'left')),
        changed_at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE INDEX membership_history_by_group ON membership_history (group_id, id);
    CREATE INDEX membership_history_by_device ON membership_history (end_device_id, id);
    CREATE INDEX der_assets_by_end_device ON der_assets (end_device_id);
    """
)


MIGRATIONS.append(
    # device scores (issue 12): the latest score and availability of each device a program reaches, with the
    # reasons it is unavailable, its score components and event counts (JSON), and when each program's
    # devices were last scored (store/sqlite_participation.py)
    """
    CREATE TABLE device_score_runs (
        program_id INTEGER PRIMARY KEY REFERENCES programs (id) ON DELETE CASCADE,
        computed INTEGER NOT NULL
    );
    CREATE TABLE device_scores (
        program_id INTEGER NOT NULL REFERENCES device_score_runs (program_id) ON DELETE CASCADE,
        end_device_id INTEGER NOT NULL REFERENCES end_devices (id) ON DELETE CASCADE,
        lfdi TEXT NOT NULL,
        service_point TEXT,
        score REAL NOT NULL,
        available INTEGER NOT NULL,
        reasons TEXT NOT NULL,
        components TEXT NOT NULL,
        events TEXT NOT NULL,
        computed INTEGER NOT NULL,
        PRIMARY KEY (program_id, end_device_id)
    );
    CREATE INDEX device_scores_by_device ON device_scores (end_device_id);
    """
)


# utility events made of stages (each stage one program event, a DERControl), the stages' transitions reported to
# operations, and the durable participation record: who each stage called, and each one's outcome.  An event
# (DERControl) with a stage or a Response cannot be deleted, only archived.
MIGRATIONS.append("""
    CREATE TABLE utility_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        mrid TEXT NOT NULL UNIQUE,
        description TEXT,
        created INTEGER NOT NULL,
        cancelled_at INTEGER,
        archived_at INTEGER
    );
    CREATE TABLE event_stages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id INTEGER NOT NULL REFERENCES utility_events (id),
        position INTEGER NOT NULL,
        control_id INTEGER NOT NULL UNIQUE REFERENCES controls (id),
        program_id INTEGER NOT NULL,
        target_w INTEGER,
        reported TEXT,
        settled_at INTEGER,
        exported_at INTEGER,
        UNIQUE (event_id, position)
    );
    CREATE INDEX event_stages_open ON event_stages (exported_at, id);
    CREATE TABLE stage_transitions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        stage_id INTEGER NOT NULL REFERENCES event_stages (id),
        status TEXT NOT NULL,
        at INTEGER NOT NULL,
        recorded INTEGER NOT NULL,
        UNIQUE (stage_id, status)
    );
    CREATE TABLE stage_participation (
        stage_id INTEGER NOT NULL REFERENCES event_stages (id),
        end_device_id INTEGER NOT NULL,
        lfdi TEXT NOT NULL,
        called_at INTEGER NOT NULL,
        control_mrid TEXT NOT NULL,
        visible_at INTEGER NOT NULL,
        outcome TEXT,
        responses TEXT,
        PRIMARY KEY (stage_id, end_device_id)
    );
    CREATE TABLE stage_sync_messages (
        message_id INTEGER PRIMARY KEY REFERENCES sync_messages (id) ON DELETE CASCADE,
        stage_id INTEGER NOT NULL REFERENCES event_stages (id),
        transition_id INTEGER REFERENCES stage_transitions (id)
    );
    CREATE INDEX stage_sync_messages_by_stage ON stage_sync_messages (stage_id);
    CREATE TABLE archived_controls (
        control_id INTEGER PRIMARY KEY REFERENCES controls (id),
        archived_at INTEGER NOT NULL
    );
    CREATE TRIGGER controls_keep_their_record BEFORE DELETE ON controls
    WHEN EXISTS (SELECT 1 FROM responses WHERE control_id = old.id)
      OR EXISTS (SELECT 1 FROM event_stages WHERE control_id = old.id) BEGIN
        SELECT RAISE(ABORT, 'an event with a participation record cannot be deleted, only archived');
    END;
""")
MIGRATIONS.append(
    # reservation: who each stage considered and why it called each device or not; a stage with a target
    # reaches only the devices it reserved, through a DERProgram and a group of its own
    """
    ALTER TABLE event_stages ADD COLUMN dispatch_program_id INTEGER REFERENCES programs (id);
    ALTER TABLE event_stages ADD COLUMN dispatch_group_id INTEGER REFERENCES groups (id) ON DELETE SET NULL;
    CREATE INDEX event_stages_by_dispatch_program ON event_stages (dispatch_program_id);
    CREATE TABLE stage_reservations (
        stage_id INTEGER NOT NULL REFERENCES event_stages (id),
        rank INTEGER NOT NULL,
        end_device_id INTEGER NOT NULL,
        lfdi TEXT NOT NULL,
        reserved INTEGER NOT NULL,
        reason TEXT NOT NULL,
        score REAL NOT NULL,
        available INTEGER NOT NULL,
        forecast_w REAL NOT NULL,
        PRIMARY KEY (stage_id, end_device_id)
    );
""")
MIGRATIONS.append(
    # each program's pricing (fixed, hourly or market) and its loaded prices per kWh, as exact decimal text
    """
    CREATE TABLE program_pricing (
        program_id INTEGER PRIMARY KEY REFERENCES programs (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        currency TEXT NOT NULL,
        fixed_price TEXT
    );
    CREATE TABLE program_prices (
        program_id INTEGER NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
        start INTEGER NOT NULL,
        duration INTEGER NOT NULL,
        price TEXT NOT NULL,
        loaded_at INTEGER NOT NULL,
        PRIMARY KEY (program_id, start)
    );
""")
MIGRATIONS.append(
    # settlement credits per device and stage (with the baseline method and the baseline against measured
    # profile they came from), each program's baseline method, and billing: batches of an account's unbilled
    # credits sent to billing endpoints (sync endpoints whose purpose is billing) and acknowledged
    """
    ALTER TABLE sync_endpoints ADD COLUMN purpose TEXT NOT NULL DEFAULT 'operations';
    ALTER TABLE event_stages ADD COLUMN credited_at INTEGER;
    CREATE TABLE billing_batches (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL,
        currency TEXT NOT NULL,
        amount TEXT NOT NULL,
        trigger TEXT NOT NULL,
        created INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'billed', 'rejected')),
        reason TEXT,
        settled_at INTEGER,
        credit_count INTEGER NOT NULL
    );
    CREATE TABLE billing_messages (
        message_id INTEGER PRIMARY KEY REFERENCES sync_messages (id) ON DELETE CASCADE,
        batch_id INTEGER NOT NULL REFERENCES billing_batches (id)
    );
    CREATE INDEX billing_messages_by_batch ON billing_messages (batch_id);
    CREATE TABLE settlement_credits (
        stage_id INTEGER NOT NULL REFERENCES event_stages (id),
        end_device_id INTEGER NOT NULL,
        lfdi TEXT NOT NULL,
        customer_id INTEGER,
        account_id INTEGER,
        service_point_id INTEGER,
        currency TEXT NOT NULL,
        baseline_kwh TEXT,
        measured_kwh TEXT,
        avoided_kwh TEXT,
        paid_kwh TEXT NOT NULL,
        energy TEXT NOT NULL,
        per_event TEXT NOT NULL,
        reservation TEXT NOT NULL,
        penalty TEXT NOT NULL,
        total TEXT NOT NULL,
        quality TEXT NOT NULL,
        computed_at INTEGER NOT NULL,
        billing_batch_id INTEGER REFERENCES billing_batches (id),
        billed_at INTEGER,
        billing_reason TEXT,
        method TEXT NOT NULL,
        profile TEXT NOT NULL,
        PRIMARY KEY (stage_id, end_device_id)
    );
    CREATE TABLE program_baselines (
        program_id INTEGER PRIMARY KEY REFERENCES programs (id) ON DELETE CASCADE,
        method TEXT NOT NULL,
        measurement TEXT NOT NULL
    );
    CREATE INDEX settlement_credits_by_account ON settlement_credits (account_id, billed_at);
""")
MIGRATIONS.append(
    # settlement's measurement intake: the interval files loaded from the customer-billing system, and their
    # readings, one per service point, source and start; kwh holds the exact decimal as text
    # (store/sqlite_settlement.py)
    """
    CREATE TABLE interval_batches (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        source TEXT NOT NULL,
        name TEXT,
        row_count INTEGER NOT NULL,
        inserted INTEGER NOT NULL,
        replaced INTEGER NOT NULL,
        loaded_at INTEGER NOT NULL,
        sha256 TEXT NOT NULL
    );
    CREATE INDEX interval_batches_by_sha256 ON interval_batches (sha256);
    CREATE TABLE interval_readings (
        service_point_id INTEGER NOT NULL REFERENCES service_points (id) ON DELETE CASCADE,
        source TEXT NOT NULL,
        start INTEGER NOT NULL,
        duration INTEGER NOT NULL CHECK (duration > 0),
        kwh TEXT NOT NULL,
        quality TEXT NOT NULL CHECK (quality IN ('actual', 'estimated')),
        loaded_at INTEGER NOT NULL,
        batch_id INTEGER NOT NULL REFERENCES interval_batches (id),
        PRIMARY KEY (service_point_id, source, start)
    );
    CREATE INDEX interval_readings_by_batch ON interval_readings (batch_id);
    """
)
MIGRATIONS.append(
    # the LFDI of the device a MirrorUsagePoint mirrors, as a column (it was only in the body), so that the
    # telemetry of a few devices is found by index, not by reading every mirror
    """
    ALTER TABLE mirror_usage_points ADD COLUMN device_lfdi TEXT;
    UPDATE mirror_usage_points SET device_lfdi = upper(json_extract(body, '$.deviceLFDI'))
        WHERE json_type(body, '$.deviceLFDI') = 'text';
    CREATE INDEX mirror_usage_points_by_device ON mirror_usage_points (device_lfdi);
""")
MIGRATIONS.append(
    # when each EndDevice's client last made an authenticated 2030.5 request (written in batches by the edge);
    # a table of its own, so that these frequent writes move no cache counter and touch no end_devices row
    """
    CREATE TABLE end_device_contacts (
        end_device_id INTEGER PRIMARY KEY REFERENCES end_devices (id) ON DELETE CASCADE,
        at INTEGER NOT NULL
    );
    CREATE INDEX end_device_contacts_by_time ON end_device_contacts (at);
""")
MIGRATIONS.append(
    # the operator console's device search: DER assets by customer and by service point
    """
    CREATE INDEX der_assets_by_customer ON der_assets (customer_id);
    CREATE INDEX der_assets_by_service_point ON der_assets (service_point_id);
""")
MIGRATIONS.append(
    # when each notification was queued (wall-clock seconds): the notification outbox's delivery lag
    # (GET /outboxes, /metrics)
    """
    ALTER TABLE outbox ADD COLUMN queued_at INTEGER;
    """
)
MIGRATIONS.append(
    # /metrics at a million EndDevices (issue 14): the counts it reads are kept by triggers (kept_counts.py), and
    # the queued sync messages have an index of their own, so that a scrape reads no table whole
    "".join(kept_counts.backfill(k) + kept_counts.sqlite_triggers(k) for k in kept_counts.COUNTS)
    + """
    CREATE INDEX sync_messages_queued ON sync_messages (id) WHERE state = 'queued';
    """
)
