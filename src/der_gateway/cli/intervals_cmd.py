"""der-gateway intervals: load an interval file from the customer-billing system through the admin API."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from ..domain.settlement import interval_files

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
    load.set_defaults(run=run_load)


def _post(url: str, token: str, content_type: str, body: bytes) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, {"errors": [{"reason": raw.decode(errors="replace")[:500] or exc.reason}]}


def run_load(args: argparse.Namespace) -> int:
    path: Path = args.file
    fmt = args.format or interval_files.format_of(path.name)
    if fmt is None:
        print(f"der-gateway: {path}: say --format csv or json (the name ends in neither .csv nor .json)",
              file=sys.stderr)
        return 2
    try:
        body = path.read_bytes()
    except OSError as exc:
        print(f"der-gateway: {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    url = args.admin_url.rstrip("/") + "/interval-data?" + urllib.parse.urlencode({"name": path.name})
    try:
        status, answer = _post(url, args.token, CONTENT_TYPES[fmt], body)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"der-gateway: cannot reach the admin API at {args.admin_url}: {exc}", file=sys.stderr)
        return 1
    if status in (200, 201) and isinstance(answer, dict):
        print(f"{path.name}: {answer['rows']} readings: {answer['inserted']} inserted, {answer['replaced']} "
              f"replaced, {answer['unchanged']} unchanged (batch {answer['batchId']})")
        return 0
    errors = answer.get("errors", []) if isinstance(answer, dict) else []
    print(f"der-gateway: {path}: refused ({status}), {len(errors)} problem(s); nothing was loaded", file=sys.stderr)
    for e in errors:
        where = f"{e['field']}: " if e.get("field") else ""
        print(f"  {where}{e['reason']}", file=sys.stderr)
    return 1
