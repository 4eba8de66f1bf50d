"""Dagster assets of sources: one asset per raw table, materialised by ingesting what has landed."""

from __future__ import annotations

import dagster as dg

from dagster_project.ingest.run import ingest_source
from dagster_project.ingest.spec import SourceSpec


def materialize_results(stats: dict[tuple[str, ...], dict[str, int | float]]) -> list[dg.MaterializeResult]:
    return [
        dg.MaterializeResult(
            asset_key=dg.AssetKey(list(key)),
            metadata={name: _metadata(value) for name, value in counts.items()},
        )
        for key, counts in stats.items()
    ]


def _metadata(value: int | float) -> dg.MetadataValue:
    return dg.MetadataValue.float(float(value)) if isinstance(value, float) else dg.MetadataValue.int(int(value))


def source_asset(
    spec: SourceSpec, group: str, kinds: set[str], description: str, deps: list[dg.AssetKey] | None = None
) -> dg.AssetsDefinition:
    """The Dagster asset of a single-table source: ingest every landed file into `raw.<table>`."""

    @dg.asset(key=list(spec.asset_key), group_name=group, kinds=kinds, description=description, deps=deps)
    def _asset(context) -> dg.MaterializeResult:  # an AssetExecutionContext
        from dagster_project.settings import get_settings

        stats = ingest_source([spec], get_settings(), context.log.info)
        return materialize_results(stats)[0]

    return _asset
