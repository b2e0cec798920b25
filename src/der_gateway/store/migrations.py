"""Schema versions of the SQLite store, applied in order on start-up (PRAGMA user_version)."""

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
