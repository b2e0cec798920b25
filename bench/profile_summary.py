"""Per-function shares of server time from py-spy collapsed stacks (bench_server.py --py-spy DIR).

    python bench/profile_summary.py DIR/der-gateway-dcap.txt [--top 25] [--under FUNCTION]

Each input line is "frame;frame;...;frame COUNT", outermost frame first, a frame being
"function (file:line)"; bench_server.py runs py-spy with --idle --threads, so a first frame
"thread (TID): NAME" names the thread and only the event-loop thread is read, every sample of it
(on a saturated server, samples in proportion to CPU time; time in system calls included).

Printed per function (file:line dropped, short file name kept): inclusive share (samples whose
stack contains it, counted once), self share (samples where it is the innermost frame).
--under limits the sample set to stacks passing through FUNCTION; shares are then of those.

--own PREFIX (e.g. der_gateway/) also charges each sample to the innermost frame whose file starts
with PREFIX -- so library and C calls made by the project's code count against the project
function that made them -- and samples with no such frame to "(framework)"; printed per function
and per file.  py-spy's stacks of coroutines are sometimes cut short at the outer end, which
this attribution, working from the inner end, does not mind.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]*)(?::\d+)?\)$")


def short(frame: str) -> str:
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/lib/python3":
                path = path.split("/", 1)[1] if "/" in path else path
            break
    return f"{m.group('func')} ({path})"


def load(path: Path, thread: str | None = "MainThread") -> list[tuple[list[str], int]]:
    """Stacks (outermost frame first) and counts; with py-spy --threads, only those of THREAD."""
    stacks = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        frames, _, count = line.rpartition(" ")
        parts = frames.split(";") if frames else []
        if parts and parts[0].startswith("thread ("):
            if thread is not None and not parts[0].endswith(f": {thread}"):
                continue
            parts = parts[1:]
        stacks.append(([short(f) for f in parts] or ["(no Python frame)"], int(count)))
    return stacks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--thread", default="MainThread",
                        help="with py-spy --threads stacks, the thread to read (default MainThread, the event loop)")
    parser.add_argument("--under", help="only stacks through a function whose name contains this")
    parser.add_argument("--own", metavar="PREFIX", help="charge samples to the innermost frame in files under PREFIX")
    parser.add_argument("--sort", choices=("inclusive", "self"), default="inclusive")
    args = parser.parse_args()
    for path in args.files:
        stacks = load(path, args.thread)
        if args.under:
            stacks = [(f, n) for f, n in stacks if any(args.under in x for x in f)]
        total = sum(n for _, n in stacks)
        inclusive: Counter[str] = Counter()
        own: Counter[str] = Counter()
        for frames, n in stacks:
            for f in set(frames):
                inclusive[f] += n
            own[frames[-1]] += n
        print(f"== {path}: {total} samples" + (f" through {args.under!r}" if args.under else ""))
        ranked = (inclusive if args.sort == "inclusive" else own).most_common(args.top)
        print(f"{'incl':>6} {'self':>6}  function")
        for name, _ in ranked:
            print(f"{100 * inclusive[name] / total:5.1f}% {100 * own[name] / total:5.1f}%  {name}")
        print()
        if args.own:
            by_function: Counter[str] = Counter()
            by_file: Counter[str] = Counter()
            for frames, n in stacks:
                mine = next((f for f in reversed(frames) if f"({args.own}" in f), None)
                by_function[mine or "(framework)"] += n
                by_file[mine.rsplit("(", 1)[1].rstrip(")") if mine else "(framework)"] += n
            print(f"-- charged to the innermost {args.own} frame, by file")
            for name, n in by_file.most_common():
                print(f"{100 * n / total:5.1f}%  {name}")
            print("-- by function")
            for name, n in by_function.most_common(args.top):
                print(f"{100 * n / total:5.1f}%  {name}")
            print()


if __name__ == "__main__":
    main()
