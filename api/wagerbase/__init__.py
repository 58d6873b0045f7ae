"""Wagerbase: a betting engine that lives in PostgreSQL, with a thin Python layer around it."""

__version__ = "0.1.0"
