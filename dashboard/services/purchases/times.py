"""How upstream times are read."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

# Days are counted on Lima's calendar; the clients already made every upstream time aware (types.py).
UPSTREAM_TZ = ZoneInfo("America/Lima")


def upstream_time(moment: dt.datetime) -> dt.datetime:
    """An upstream datetime (aware since the client parsed it; naive: UTC) as a Lima time."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(UPSTREAM_TZ)
