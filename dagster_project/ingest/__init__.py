"""Ingestion: delivered files become raw tables under a contract (see docs/architecture.md)."""

from dagster_project.ingest.run import *  # noqa: F403
