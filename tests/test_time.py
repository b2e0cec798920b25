"""Time's tzOffset and DST fields, from the IANA database."""

from datetime import datetime, timezone

import pytest

from der_gateway.domain.time import zone_times


def utc(*args) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp())


@pytest.mark.parametrize("zone, now, tz, dst, start, end", [
    ("UTC", utc(2026, 6, 1), 0, 0, 0, 0),
    ("Australia/Brisbane", utc(2026, 6, 1), 36000, 0, 0, 0),
    # US Pacific: DST from 2026-03-08 02:00 PST to 2026-11-01 02:00 PDT
    ("America/Los_Angeles", utc(2026, 6, 1), -28800, 3600, utc(2026, 3, 8, 10), utc(2026, 11, 1, 9)),
    # Sydney: DST from 2026-10-04 02:00 AEST to 2027-04-04 03:00 AEDT
    ("Australia/Sydney", utc(2026, 6, 1), 36000, 3600, utc(2026, 10, 3, 16), utc(2027, 4, 3, 16)),
])
def test_zone_times(zone, now, tz, dst, start, end):
    times = zone_times(zone, now)
    assert (times.tzOffset, times.dstOffset, times.dstStartTime, times.dstEndTime) == (tz, dst, start, end)


def test_local_time_includes_dst():
    summer = utc(2026, 7, 1)
    assert zone_times("America/Los_Angeles", summer).localTime == summer - 28800 + 3600
    winter = utc(2026, 1, 15)
    assert zone_times("America/Los_Angeles", winter).localTime == winter - 28800
