"""Prefect orchestration: one flow runs ingest -> contract -> dbt -> exports -> notify."""
