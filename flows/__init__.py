"""Flows: meter-data collection, history and incrementally maintained usage views."""

__version__ = "0.1.0"
