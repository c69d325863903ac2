"""Versioned snapshots of cleaned articles in one SQLite file, and their export."""

from archive.export import FORMATS, write_records
from archive.store import Archive, SaveResult, StoredVersion

__all__ = ["FORMATS", "Archive", "SaveResult", "StoredVersion", "write_records"]
