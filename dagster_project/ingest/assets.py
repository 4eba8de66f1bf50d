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


def _attributes(spec: SourceSpec) -> dict:
    """A raw table's group (`raw/<group>/...`), kinds (DuckDB and the delivered format) and description."""
    return {
        "group_name": spec.asset_key[1],
        "kinds": {"duckdb", spec.glob.rsplit(".", 1)[-1]},
        "description": spec.description,
    }


def source_asset(spec: SourceSpec, deps: list[dg.AssetKey] | None = None) -> dg.AssetsDefinition:
    """The Dagster asset of a single-table source: ingest every landed file into `raw.<table>`."""

    @dg.asset(key=list(spec.asset_key), deps=deps, **_attributes(spec))
    def _asset(context) -> dg.MaterializeResult:  # an AssetExecutionContext
        from dagster_project.settings import get_settings

        stats = ingest_source([spec], get_settings(), context.log.info)
        return materialize_results(stats)[0]

    return _asset


def source_assets(name: str, specs: list[SourceSpec], description: str) -> dg.AssetsDefinition:
    """One Dagster asset of the raw tables a source fills in one ingestion (e.g. maps and postcodes)."""

    @dg.multi_asset(
        name=name,
        description=description,
        specs=[dg.AssetSpec(list(spec.asset_key), **_attributes(spec)) for spec in specs],
    )
    def _assets(context):  # an AssetExecutionContext
        from dagster_project.settings import get_settings

        stats = ingest_source(specs, get_settings(), context.log.info)
        yield from materialize_results(stats)

    return _assets
