"""The DuckDB catalog of datasets, versions, builds, files, validation, funnel, usage and lineage."""

from catalog.store import BuildRecord, Catalog, FileEntry, Registered

__all__ = ["BuildRecord", "Catalog", "FileEntry", "Registered"]
