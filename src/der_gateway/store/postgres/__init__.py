"""The PostgreSQL backend's plumbing: its schema versions and triggers, and a connection that runs the store's
SQL as sqlite3 runs it."""
