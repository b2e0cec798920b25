"""The Time resource's fields for a time zone: offsets and this year's DST window."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class ZoneTimes:
    tzOffset: int  # standard offset from UTC, seconds, without DST
    dstOffset: int
    dstStartTime: int
    dstEndTime: int
    localTime: int


def _offset(zone: ZoneInfo, t: int) -> int:
    offset = datetime.fromtimestamp(t, zone).utcoffset()
    assert offset is not None  # the datetime is aware
    return int(offset.total_seconds())


def _transition(zone: ZoneInfo, lo: int, hi: int) -> int:
    """The first second in (lo, hi] whose UTC offset differs from lo's."""
    before = _offset(zone, lo)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset(zone, mid) == before:
            lo = mid
        else:
            hi = mid
    return hi


def zone_times(zone_name: str, now: int) -> ZoneTimes:
    year = datetime.fromtimestamp(now, timezone.utc).year
    standard, dst_offset, dst_start, dst_end = _dst_window(zone_name, year)
    if dst_offset == 0:
        standard = _offset(ZoneInfo(zone_name), now)
    return ZoneTimes(standard, dst_offset, dst_start, dst_end, now + _offset(ZoneInfo(zone_name), now))


@functools.lru_cache(maxsize=64)
def _dst_window(zone_name: str, year: int) -> tuple[int, int, int, int]:
    """(standard offset, DST offset, DST start, DST end) for the DST period that starts in year."""
    zone = ZoneInfo(zone_name)
    start = int(datetime(year, 1, 1, tzinfo=timezone.utc).timestamp())
    end = int(datetime(year + 1, 1, 1, tzinfo=timezone.utc).timestamp())
    day = int(timedelta(days=1).total_seconds())
    transitions = []
    for t in range(start, end, day):
        if _offset(zone, t) != _offset(zone, min(t + day, end)):
            transitions.append(_transition(zone, t, min(t + day, end)))
    if len(transitions) < 2:
        return (_offset(zone, start), 0, 0, 0)
    first, second = transitions[0], transitions[1]
    offset_after_first = _offset(zone, first)
    offset_before_first = _offset(zone, first - 1)
    if offset_after_first > offset_before_first:  # northern hemisphere: DST inside the year
        standard, dst_start, dst_end = offset_before_first, first, second
    else:  # southern: DST spans the new year; report the window that starts this year
        standard, dst_start = offset_after_first, second
        dst_end = _transition(zone, end, end + 200 * day)
    return (standard, abs(offset_after_first - offset_before_first), dst_start, dst_end)
