"""The reading coordinator: keeps the cities of a simultaneous public reading in step."""

__version__ = "0.1.0"
