"""Progress on stderr while a command works through many items, and the one-line summary it ends with.

Progress is shown only when stderr is a terminal, or with --progress; stdout carries the results alone, so that
a script can read them.  Every summary ends with the time the command took."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import NoReturn, TypeAlias, TypeVar

from tqdm import tqdm

Item = TypeVar("Item")
Bar: TypeAlias = "tqdm[NoReturn]"


def add_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show progress on stderr (default: only when stderr is a terminal)")


class Progress:
    def __init__(self, wanted: bool | None) -> None:
        self.shown = sys.stderr.isatty() if wanted is None else wanted
        self._started = time.monotonic()

    @classmethod
    def of(cls, args: argparse.Namespace) -> Progress:
        return cls(args.progress)

    def bar(self, description: str, total: int | None, unit: str) -> Bar:
        """A bar to update() by hand: done / total, rate and time left (bytes are scaled to kB, MB...)."""
        return tqdm(total=total, desc=description, unit=unit, unit_scale=unit == "B", file=sys.stderr,
                    disable=not self.shown, dynamic_ncols=True, mininterval=0.2)

    def batches(self, items: Sequence[Item], size: int, description: str, unit: str) -> Iterator[Sequence[Item]]:
        """The items in slices of `size`, each counted as done when the caller asks for the next."""
        with self.bar(description, len(items), unit) as bar:
            for start in range(0, len(items), size):
                batch = items[start:start + size]
                yield batch
                bar.update(len(batch))

    def note(self, text: str) -> None:
        """A step that cannot count its items (one transaction, a server's answer), said as it starts."""
        if self.shown:
            print(f"{text}...", file=sys.stderr, flush=True)

    def elapsed(self) -> str:
        return f"{time.monotonic() - self._started:.1f}s"

    def summary(self, text: str) -> None:
        """The command's one-line result, on stdout."""
        print(f"{text} in {self.elapsed()}", flush=True)

    def refused(self, subject: str, problems: Sequence[Mapping[str, str]], outcome: str, status: str = "") -> None:
        """The one-line summary of work refused whole, on stderr, with every reason below it."""
        print(f"der-gateway: {subject}: refused{f' ({status})' if status else ''}, {len(problems)} problem(s); "
              f"{outcome} in {self.elapsed()}", file=sys.stderr)
        for p in problems:
            print(f"  {p['field'] + ': ' if p.get('field') else ''}{p['reason']}", file=sys.stderr)
