"""A private PostgreSQL server for the tests, or the one named by DER_GATEWAY_TEST_POSTGRES.

initdb and pg_ctl refuse to run as root, and the tests often run as root (CI does): the server then runs as the
unprivileged user `nobody`, in a directory of its own under the system's temporary directory (pytest's own
temporary directories are private to root). It listens only on a unix socket in that directory, with fsync on,
and trusts local connections, so the tests connect as its superuser without a password.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import conninfo

ENV_DSN = "DER_GATEWAY_TEST_POSTGRES"
SUPERUSER = "postgres"
PORT = 5432  # only names the socket file: the server listens on no TCP port
UNPRIVILEGED = "nobody"


def binaries() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian keeps them under /usr/lib/postgresql/N/bin)."""
    found = sorted((p for p in glob.glob("/usr/lib/postgresql/*/bin/pg_ctl") if Path(p).parent.parent.name.isdigit()),
                   key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def as_uri(dsn: str, **overrides: str) -> str:
    """The connection string `dsn` (a URI or key=value pairs) as a postgresql:// URI, with `overrides` applied."""
    params = conninfo.conninfo_to_dict(dsn)
    params.update(overrides)
    user = params.pop("user", "")
    password = params.pop("password", "")
    dbname = params.pop("dbname", "")
    auth = quote(str(user), safe="") + (":" + quote(str(password), safe="") if password else "")
    query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())
    return f"postgresql://{auth}{'@' if auth else ''}/{quote(str(dbname), safe='')}" + (f"?{query}" if query else "")


@dataclass
class PostgresServer:
    """A PostgreSQL server the tests may create databases on. `dsn` names its maintenance database."""

    dsn: str
    _names: itertools.count = field(default_factory=lambda: itertools.count(1))
    _directory: Path | None = None
    _bin: Path | None = None
    _user: tuple[int, int] | None = None
    _by_key: dict[str, str] = field(default_factory=dict)
    _emptied: list[str] = field(default_factory=list)

    @classmethod
    def start(cls) -> PostgresServer:
        bin_dir = binaries()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (no pg_ctl); .ci/run installs Debian's `postgresql`")
        directory = Path(tempfile.mkdtemp(prefix="der-gateway-pg-"))
        user = None
        if os.geteuid() == 0:
            entry = pwd.getpwnam(UNPRIVILEGED)
            user = (entry.pw_uid, entry.pw_gid)
            os.chown(directory, *user)
        server = cls(dsn=as_uri(conninfo.make_conninfo(host=str(directory), port=PORT, user=SUPERUSER,
                                                        dbname="postgres")),
                     _directory=directory, _bin=bin_dir, _user=user)
        try:
            server._run("initdb", "-D", str(directory / "data"), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                        "--locale=C", "--no-sync")
            server._run("pg_ctl", "-D", str(directory / "data"), "-l", str(directory / "server.log"), "-w",
                        "-t", "60", "start", "-o",
                        f"-c listen_addresses='' -c unix_socket_directories='{directory}' -p {PORT} "
                        "-c fsync=on -c synchronous_commit=on -c max_connections=200 -c shared_buffers=32MB")
        except BaseException:
            server.stop()
            raise
        return server

    def _run(self, program: str, *args: str) -> None:
        command = [str(self._bin / program), *args]
        if self._user is not None:
            uid, gid = self._user
            command = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *command]
        done = subprocess.run(command, cwd=self._directory, capture_output=True, text=True,
                              env={**os.environ, "HOME": str(self._directory), "LC_ALL": "C"})
        if done.returncode != 0:
            log = self._directory / "server.log"
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr or done.stdout}"
                               + (f"\nserver log:\n{log.read_text()[-2000:]}" if log.exists() else ""))

    def stop(self) -> None:
        if self._directory is None:  # a server of someone else's: leave it as it was
            for dsn in self._emptied + list(self._by_key.values()):
                self.drop_database(dsn)
            self._emptied.clear()
            self._by_key.clear()
            return
        if (self._directory / "data" / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self._directory / "data"), "-m", "fast", "-w", "stop")
        shutil.rmtree(self._directory, ignore_errors=True)
        self._directory = None

    def create_database(self) -> str:
        """A new, empty database; returns its DSN."""
        name = f"der_gateway_test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return as_uri(self.dsn, dbname=name)

    def database_for(self, key: str) -> str:
        """The DSN of the database kept for key (a test's data directory, say): on first use a new one, or one
        given back by release_database_for, its tables emptied (its schema left, to spare migrating again)."""
        if key not in self._by_key:
            self._by_key[key] = self._emptied.pop() if self._emptied else self.create_database()
        return self._by_key[key]

    def release_database_for(self, key: str) -> None:
        """Empties key's database (every table, its identities restarted) for the next database_for."""
        dsn = self._by_key.pop(key, None)
        if dsn is None:
            return
        with psycopg.connect(dsn, autocommit=True) as conn:
            tables = [r[0] for r in conn.execute("SELECT quote_ident(tablename) FROM pg_tables "
                                                 "WHERE schemaname = current_schema() "
                                                 "AND tablename != 'schema_migrations'").fetchall()]
            if tables:
                conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        self._emptied.append(dsn)

    def drop_database(self, dsn: str) -> None:
        name = conninfo.conninfo_to_dict(dsn)["dbname"]
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_for_tests() -> PostgresServer:
    """The server named by DER_GATEWAY_TEST_POSTGRES, else a private one started now (stop() it after)."""
    global SESSION
    dsn = os.environ.get(ENV_DSN)
    SESSION = PostgresServer(dsn=as_uri(dsn)) if dsn else PostgresServer.start()
    return SESSION


# the test session's server, once the postgres_server fixture has started it (or None)
SESSION: PostgresServer | None = None


def database_for(key: object) -> str:
    """A database of the session's server kept for key: openers that are given only a data directory use it."""
    if SESSION is None:
        raise RuntimeError("the postgres_server fixture has not started a server")
    return SESSION.database_for(str(key))
