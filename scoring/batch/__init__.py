"""Batch scoring jobs: files, services, selectors (docs/batch.md)."""
