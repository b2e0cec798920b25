"""der-gateway intervals: load an interval file from the customer-billing system through the admin API."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO, Any

from ..domain.settlement import interval_files
from . import progress
from .progress import Bar, Progress

CONTENT_TYPES = {"csv": "text/csv", "json": "application/json"}
TIMEOUT = 300.0


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("intervals", help="load interval data (settlement) through the admin API")
    sub = p.add_subparsers(dest="action", required=True)
    load = sub.add_parser("load", help="load a CSV or JSON interval file (docs/settlement.md, \"Interval data\")")
    load.add_argument("file", type=Path)
    load.add_argument("--format", choices=interval_files.FORMATS, help="default: from the file name (.csv or .json)")
    load.add_argument("--admin-url", required=True, help="the admin API, e.g. http://127.0.0.1:8444")
    load.add_argument("--token", required=True, help="the admin API's bearer token")
    progress.add_option(load)
    load.set_defaults(run=run_load)


class _Sent:
    """The file as the request body: the bytes sent counted on a bar, then a note that the server is at work."""

    def __init__(self, file: IO[bytes], size: int, shown: Progress) -> None:
        self._file, self._shown = file, shown
        self._bar: Bar | None = shown.bar("sending", size, "B")

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        if self._bar is not None:
            self._bar.update(len(chunk))
            if not chunk:
                self._bar.close()
                self._bar = None
                self._shown.note("sent; the server checks and loads the file")
        return chunk

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _post(url: str, token: str, content_type: str, file: IO[bytes], size: int,
          shown: Progress) -> tuple[int, Any]:
    body = _Sent(file, size, shown)
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": content_type, "Content-Length": str(size)})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, {"errors": [{"reason": raw.decode(errors="replace")[:500] or exc.reason}]}
    finally:
        body.close()


def run_load(args: argparse.Namespace) -> int:
    shown = Progress.of(args)
    path: Path = args.file
    fmt = args.format or interval_files.format_of(path.name)
    if fmt is None:
        print(f"der-gateway: {path}: say --format csv or json (the name ends in neither .csv nor .json)",
              file=sys.stderr)
        return 2
    try:
        file = path.open("rb")
    except OSError as exc:
        print(f"der-gateway: {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    url = args.admin_url.rstrip("/") + "/interval-data?" + urllib.parse.urlencode({"name": path.name})
    try:
        with file:
            status, answer = _post(url, args.token, CONTENT_TYPES[fmt], file, os.fstat(file.fileno()).st_size, shown)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"der-gateway: cannot reach the admin API at {args.admin_url}: {exc}", file=sys.stderr)
        return 1
    if status in (200, 201) and isinstance(answer, dict):
        shown.summary(f"{path.name}: {answer['rows']} readings: {answer['inserted']} inserted, "
                      f"{answer['replaced']} replaced, {answer['unchanged']} unchanged (batch {answer['batchId']})")
        return 0
    errors = answer.get("errors", []) if isinstance(answer, dict) else []
    shown.refused(str(path), errors, "nothing was loaded", str(status))
    return 1
