"""The score files for operations: data_dir/exports/scores/program-{id}.json and .csv, each replaced atomically
(written to a temporary file in the same directory, flushed to disk, then renamed over the old one), so that
a reader sees the previous run's file or this one's, never a part."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Sequence

from ..store.base import ProgramRecord
from ..store.participation_records import DeviceScoreRecord
from . import participation_json

SCORES_DIR = Path("exports") / "scores"


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


def write_score_exports(data_dir: Path, program: ProgramRecord, computed: int,
                        records: Sequence[DeviceScoreRecord]) -> tuple[Path, Path]:
    base = data_dir / SCORES_DIR / f"program-{program.id}"
    document = {**participation_json.scores(program.id, computed, records), "programMRID": program.mRID}
    json_path, csv_path = base.with_suffix(".json"), base.with_suffix(".csv")
    write_atomically(json_path, json.dumps(document, indent=1) + "\n")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(participation_json.CSV_COLUMNS)
    writer.writerows(participation_json.csv_row(r) for r in records)
    write_atomically(csv_path, out.getvalue())
    return json_path, csv_path
