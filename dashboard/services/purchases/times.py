"""How upstream times are read."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

# The upstreams print naive local times; they run in Lima.
UPSTREAM_TZ = ZoneInfo("America/Lima")


def upstream_time(moment: dt.datetime) -> dt.datetime:
    """An upstream datetime as an aware Lima time (naive ones are Lima server time)."""
    return moment.replace(tzinfo=UPSTREAM_TZ) if moment.tzinfo is None else moment.astimezone(UPSTREAM_TZ)
