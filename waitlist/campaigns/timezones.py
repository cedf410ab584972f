"""Each US state's time zone, for sending at a time of day in the recipient's own zone.

A state that spans two zones gets the one most of its people live in: Florida, Indiana,
Kentucky and Michigan are Eastern; Kansas, Nebraska, North and South Dakota, Tennessee and
Texas are Central; Idaho is Mountain (Boise) and Oregon Pacific. Arizona keeps no daylight time
(America/Phoenix). Someone who gave no state gets the site's TIME_ZONE."""

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings

EASTERN, CENTRAL = "America/New_York", "America/Chicago"
MOUNTAIN, PACIFIC = "America/Denver", "America/Los_Angeles"

STATE_ZONES = {
    "AL": CENTRAL, "AK": "America/Anchorage", "AZ": "America/Phoenix", "AR": CENTRAL,
    "CA": PACIFIC, "CO": MOUNTAIN, "CT": EASTERN, "DE": EASTERN, "DC": EASTERN, "FL": EASTERN,
    "GA": EASTERN, "HI": "Pacific/Honolulu", "ID": "America/Boise", "IL": CENTRAL,
    "IN": "America/Indiana/Indianapolis", "IA": CENTRAL, "KS": CENTRAL,
    "KY": "America/Kentucky/Louisville", "LA": CENTRAL, "ME": EASTERN, "MD": EASTERN,
    "MA": EASTERN, "MI": "America/Detroit", "MN": CENTRAL, "MS": CENTRAL, "MO": CENTRAL,
    "MT": MOUNTAIN, "NE": CENTRAL, "NV": PACIFIC, "NH": EASTERN, "NJ": EASTERN, "NM": MOUNTAIN,
    "NY": EASTERN, "NC": EASTERN, "ND": CENTRAL, "OH": EASTERN, "OK": CENTRAL, "OR": PACIFIC,
    "PA": EASTERN, "RI": EASTERN, "SC": EASTERN, "SD": CENTRAL, "TN": CENTRAL, "TX": CENTRAL,
    "UT": MOUNTAIN, "VT": EASTERN, "VA": EASTERN, "WA": PACIFIC, "WV": EASTERN, "WI": CENTRAL,
    "WY": MOUNTAIN,
}  # fmt: skip

# Never start a wave in these local hours unless the operator says so: 21:00 to 08:00.
QUIET_FROM, QUIET_UNTIL = dt.time(21, 0), dt.time(8, 0)


def zone_name(state: str) -> str:
    return STATE_ZONES.get(state, settings.TIME_ZONE)


def quiet(moment: dt.time) -> bool:
    return moment >= QUIET_FROM or moment < QUIET_UNTIL


def wall_clock(send_at: dt.datetime) -> dt.datetime:
    """The date and time an operator typed (in the site's TIME_ZONE), without a zone."""
    return send_at.astimezone(ZoneInfo(settings.TIME_ZONE)).replace(tzinfo=None)


def at_in(wall: dt.datetime, zone: str) -> dt.datetime:
    """That wall-clock time in `zone`, as a moment."""
    return wall.replace(tzinfo=ZoneInfo(zone))


def every_zone() -> set[str]:
    return {*STATE_ZONES.values(), settings.TIME_ZONE}


def first_wave(send_at: dt.datetime) -> dt.datetime:
    """When the earliest wave of a local-time campaign for `send_at` leaves, whoever is in it."""
    wall = wall_clock(send_at)
    return min(at_in(wall, zone) for zone in every_zone())


def quiet_until(now: dt.datetime, zone: str) -> dt.datetime | None:
    """When quiet hours end in `zone` if they hold there at `now` (08:00 local); else None."""
    local = now.astimezone(ZoneInfo(zone))
    if not quiet(local.time()):
        return None
    day = local.date() + dt.timedelta(days=1 if local.time() >= QUIET_FROM else 0)
    return dt.datetime.combine(day, QUIET_UNTIL, tzinfo=ZoneInfo(zone))
