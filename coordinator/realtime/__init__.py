"""The websocket edge: connections (``connection``), the fan-out of store events through one
routing rule (``hub``), and the session of one client from hello to close (``session``)."""

from coordinator.realtime.connection import Connection
from coordinator.realtime.hub import Hub, Variant, route
from coordinator.realtime.session import Sessions

__all__ = ["Connection", "Hub", "Sessions", "Variant", "route"]
