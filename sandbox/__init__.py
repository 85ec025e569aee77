"""Stand-in upstream services (users, products, prescriptions) with the real contracts and quirks.

    from sandbox import Sandbox, DEMO_LOGINS
    with Sandbox() as sb:          # free ports; sb.urls names them
        ...

Pure Python (stdlib HTTP server + PyJWT): importing it needs no Django settings.
"""

from .control import SERVICES, Sandbox
from .seed import DEMO_LOGINS

__all__ = ["DEMO_LOGINS", "SERVICES", "Sandbox"]
