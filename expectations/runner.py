"""Audit step of write–audit–publish: run the suites on the build database, build Data Docs.

Public API (wired into Dagster asset checks in group ``audit``):

- ``validate_table(db_path, schema, table, suite_name=None, *, context_root, data_docs_index,
  baseline_db=None, dialect="duckdb")``: ``db_path`` is a DuckDB file, or with
  ``dialect="postgres"`` a PostgreSQL DSN (the shared warehouse; the caller's `Warehouse` says which)
- ``validate_many(db_path, tables, *, context_root, data_docs_index, baseline_db=None,
  dialect="duckdb")``: one GX run for many tables

``baseline_db`` is the serving database published now (opened read-only; on the shared warehouse
its DSN): with it, the suites add their rules against the last publish (volume change,
distribution drift; warnings).
- ``build_data_docs(context_root=..., data_docs_index=...)``

Suites run on DuckDB through a SQL datasource (``expectations.gx_duckdb``): the work happens in
DuckDB, the file is opened read-only and every connection is closed when a run ends. On the
shared warehouse they run through GX's PostgreSQL datasource, the work inside PostgreSQL.

Severity: each expectation carries ``meta["severity"]``. ``AuditResult.success`` is False only when
an ``"error"`` expectation fails (or any expectation could not be evaluated); ``"warning"``
failures are listed in ``failures`` and counted in ``severity_failed``.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import duckdb
import great_expectations as gx
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

from expectations import gx_duckdb, offline_docs
from expectations.checkpoints import checkpoint_for
from expectations.suites import SCHEMAS, get_suite
from expectations.suites.helpers import Dialect, sql_dialect

__all__ = [
    "AuditResult",
    "TableSpec",
    "build_data_docs",
    "validate_many",
    "validate_table",
]

logger = logging.getLogger(__name__)

#: How many unexpected values / rows a failure carries (Data Docs has the same sample).
SAMPLE_SIZE = 5

_RESULT_FORMAT: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}

#: Audit runs of each suite kept in the validation store and Data Docs (each audit's outcome also
#: stays in `audit.check_results`): Data Docs read every stored validation to build their index.
KEEP_RUNS = 10


@dataclass(frozen=True)
class TableSpec:
    """A table to audit: ``schema.table`` with a suite (default: the suite named after the table)."""

    schema: str
    table: str
    suite_name: str | None = None

    @property
    def suite(self) -> str:
        return self.suite_name or self.table

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass
class AuditResult:
    """Outcome of auditing one table.

    - ``success``: False when an error-severity expectation failed or any expectation errored.
    - ``severity_failed``: ``{"error": n, "warning": m}`` failed expectations per severity.
    - ``failures``: one dict per failed expectation with ``expectation_type``, ``column``
      (GX kwarg, or ``meta["column"]`` for SQL rules), ``rule``, ``severity``, ``kwargs``,
      ``observed_value``, ``unexpected_count``, ``unexpected_percent``, ``sample_unexpected``
      (a few values, or rows for SQL rules), ``description``; plus ``exception`` if it errored.
    - ``errored``: the failures GX could not evaluate (always counted as errors).
    - ``statistics``: GX's evaluated/successful/unsuccessful counts, ``validated_at`` and
      ``run_seconds_total`` (the whole checkpoint run this table was part of).
    - ``data_docs_path``: the Data Docs index; ``validation_page``: this table's page in it.
    """

    table: str
    suite_name: str
    success: bool
    severity_failed: dict[str, int]
    failures: list[dict[str, Any]]
    statistics: dict[str, Any]
    data_docs_path: Path | None
    validation_page: Path | None = None
    run_name: str = ""
    errored: list[dict[str, Any]] = field(default_factory=list)

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [f for f in self.failures if f["severity"] == "error"]

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return [f for f in self.failures if f["severity"] == "warning"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (e.g. for Dagster asset check metadata)."""
        out = asdict(self)
        out["data_docs_path"] = str(self.data_docs_path) if self.data_docs_path else None
        out["validation_page"] = str(self.validation_page) if self.validation_page else None
        return out


# --- public API ----------------------------------------------------------------------------------


def validate_table(
    db_path: Path | str,
    schema: str,
    table: str,
    suite_name: str | None = None,
    *,
    context_root: Path,
    data_docs_index: Path,
    baseline_db: Path | str | None = None,
    dialect: Dialect = "duckdb",
) -> AuditResult:
    """Validate ``schema.table`` of the DuckDB file (or PostgreSQL DSN) ``db_path`` against its suite."""
    [result] = validate_many(
        db_path,
        [TableSpec(schema, table, suite_name)],
        context_root=context_root,
        data_docs_index=data_docs_index,
        baseline_db=baseline_db,
        dialect=dialect,
    )
    return result


def validate_many(
    db_path: Path | str,
    tables: Iterable[TableSpec | tuple[str, str] | tuple[str, str, str | None] | str],
    *,
    context_root: Path,
    data_docs_index: Path,
    run_name: str | None = None,
    baseline_db: Path | str | None = None,
    dialect: Dialect = "duckdb",
) -> list[AuditResult]:
    """Validate several tables in one GX checkpoint run; results in the order given.

    A table may be a ``TableSpec``, ``(schema, table[, suite_name])`` or a registered suite name
    (its schema comes from ``expectations.suites.SCHEMAS``).
    """
    specs = [_as_spec(t) for t in tables]
    if not specs:
        return []
    if len({s.qualified_name for s in specs}) != len(specs):
        raise ValueError("each table may appear only once in a run")
    if dialect == "duckdb":
        db_path = Path(db_path).resolve()
        if not db_path.exists():
            raise FileNotFoundError(f"build database not found: {db_path}")
    run_name = run_name or "audit-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")

    with _audit_lock(context_root):
        context = _get_context(context_root)
        _forget_old_validations(context, context_root, KEEP_RUNS - 1)
        started = time.perf_counter()
        try:
            validation_definitions = _validation_definitions(context, db_path, specs, baseline_db, dialect)
            checkpoint = checkpoint_for(context, validation_definitions, result_format=_RESULT_FORMAT)
            checkpoint_result = checkpoint.run(run_id=RunIdentifier(run_name=run_name))
        finally:
            # Release every DuckDB connection GX opened, so no lock outlives the audit.
            gx_duckdb.close_all_engines()
        elapsed = time.perf_counter() - started
        _render_run(context, checkpoint_result)
        index = _publish_data_docs(context, context_root, data_docs_index, rebuild=False)
        pages = {
            identifier: _validation_page(context, identifier, context_root, data_docs_index)
            for identifier in checkpoint_result.run_results
        }

    results: dict[str, AuditResult] = {}
    for identifier, suite_result in checkpoint_result.run_results.items():
        spec = _match_spec(specs, suite_result, dialect)
        audit = _to_audit_result(db_path, dialect, spec, suite_result, index, pages[identifier], run_name)
        audit.statistics["run_seconds_total"] = round(elapsed, 3)
        results[spec.qualified_name] = audit
    ordered = [results[s.qualified_name] for s in specs]
    for audit in ordered:
        logger.info(
            "audit %s: success=%s errors=%d warnings=%d",
            audit.table,
            audit.success,
            audit.severity_failed["error"],
            audit.severity_failed["warning"],
        )
    return ordered


def build_data_docs(*, context_root: Path, data_docs_index: Path) -> Path:
    """(Re)build Data Docs from the stored validation results; returns the index path."""
    with _audit_lock(context_root):
        context = _get_context(context_root)
        return _publish_data_docs(context, context_root, data_docs_index)


# --- GX context ----------------------------------------------------------------------------------


@contextmanager
def _audit_lock(context_root: Path) -> Iterator[None]:
    """Serialise audits sharing one GX project (its stores and the Data Docs copy are files).

    Dagster may run several asset checks at once; each waits here for the previous one.
    """
    context_root = Path(context_root)
    context_root.mkdir(parents=True, exist_ok=True)
    with open(context_root / ".audit.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _get_context(context_root: Path) -> Any:
    context_root = Path(context_root)
    context_root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=context_root)
    progress = context.variables.progress_bars
    enabled = progress.get("globally", True) if isinstance(progress, dict) else getattr(progress, "globally", True)
    if progress is None or enabled:
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()
    return context


def _as_spec(table: TableSpec | tuple | str) -> TableSpec:
    if isinstance(table, TableSpec):
        return table
    if isinstance(table, str):
        if table not in SCHEMAS:
            raise KeyError(f"no expectation suite named {table!r}; pass (schema, table) instead")
        return TableSpec(SCHEMAS[table], table, table)
    return TableSpec(*table)


def _datasource_name(schema: str, dialect: Dialect) -> str:
    return f"build_{dialect}_{schema}"


def _postgres_datasource(context: Any, dsn: str, schema: str) -> Any:
    name = _datasource_name(schema, "postgres")
    from dagster_project.lib.postgres import sqlalchemy_url

    url = sqlalchemy_url(dsn)
    existing = context.data_sources.all().get(name)
    if existing is not None and str(existing.connection_string) == url:
        return existing
    if existing is not None:
        context.data_sources.delete(name)
    return context.data_sources.add_postgres(name=name, connection_string=url)


def _datasource(context: Any, db_path: Path | str, schema: str, dialect: Dialect) -> Any:
    """The stored datasource for ``schema``, pointed at ``db_path``; its assets are kept.

    Replacing a datasource by a new object would drop its assets, and the validation
    definitions stored for them (other tables audited earlier) could no longer be loaded.
    """
    if dialect == "postgres":
        return _postgres_datasource(context, db_path, schema)
    name = _datasource_name(schema, "duckdb")
    config: dict[str, Any] = {
        "connection_string": gx_duckdb.duckdb_url(str(db_path)),
        "search_path": schema,
        "kwargs": {"connect_args": {"read_only": True}},
    }
    existing = context.data_sources.all().get(name)
    if not isinstance(existing, gx_duckdb.DuckDBDatasource):
        if existing is not None:
            context.data_sources.delete(name)
        return context.data_sources.add_duckdb(name=name, **config)
    if all(getattr(existing, key) == value for key, value in config.items()):
        return existing
    for key, value in config.items():
        setattr(existing, key, value)
    return context.data_sources.add_or_update_duckdb(existing)


def _validation_definitions(
    context: Any,
    db_path: Path | str,
    specs: Sequence[TableSpec],
    baseline_db: Path | str | None,
    dialect: Dialect,
) -> list[gx.ValidationDefinition]:
    """Register datasources, assets, suites and validation definitions for ``specs``.

    Each datasource (one per schema) and each suite is stored once per run: storing it again
    would replace the stored object the earlier validation definitions point to.
    """
    schemas = dict.fromkeys(s.schema for s in specs)
    datasources = {schema: _datasource(context, db_path, schema, dialect) for schema in schemas}
    with sql_dialect(dialect):
        stored_suites = {
            name: context.suites.add_or_update(get_suite(name, baseline_db=baseline_db))
            for name in dict.fromkeys(s.suite for s in specs)
        }

    validation_definitions = []
    for spec in specs:
        datasource = datasources[spec.schema]
        if spec.table in {asset.name for asset in datasource.assets}:
            asset = datasource.get_asset(spec.table)
        else:
            extra = {"schema_name": spec.schema} if dialect == "postgres" else {}
            asset = datasource.add_table_asset(name=spec.table, table_name=spec.table, **extra)
        batch_definition_name = "whole_table"
        if batch_definition_name in {bd.name for bd in asset.batch_definitions}:
            batch_definition = asset.get_batch_definition(batch_definition_name)
        else:
            batch_definition = asset.add_batch_definition_whole_table(batch_definition_name)
        validation_definitions.append(
            context.validation_definitions.add_or_update(
                gx.ValidationDefinition(
                    name=f"{spec.qualified_name}:{spec.suite}",
                    data=batch_definition,
                    suite=stored_suites[spec.suite],
                )
            )
        )
    return validation_definitions


def _match_spec(specs: Sequence[TableSpec], suite_result: Any, dialect: Dialect) -> TableSpec:
    asset_name = (suite_result.meta or {}).get("active_batch_definition", {}).get("data_asset_name")
    datasource = (suite_result.meta or {}).get("active_batch_definition", {}).get("datasource_name")
    for spec in specs:
        if spec.suite == suite_result.suite_name and (
            asset_name in (None, spec.table) and datasource in (None, _datasource_name(spec.schema, dialect))
        ):
            return spec
    raise RuntimeError(f"validation result for suite {suite_result.suite_name!r} matches no table")


# --- results -------------------------------------------------------------------------------------


def _raised(result: Any) -> list[str]:
    """Messages of exceptions GX caught while evaluating one expectation (empty if none)."""
    info = result.exception_info or {}
    messages: list[str] = []
    if isinstance(info, dict) and info.get("raised_exception"):
        messages.append(str(info.get("exception_message")))
    elif isinstance(info, dict):
        for value in info.values():
            if isinstance(value, dict) and value.get("raised_exception"):
                messages.append(str(value.get("exception_message")))
    return messages


def _to_audit_result(
    db_path: Path | str,
    dialect: Dialect,
    spec: TableSpec,
    suite_result: Any,
    index: Path,
    page: Path | None,
    run_name: str,
) -> AuditResult:
    failures: list[dict[str, Any]] = []
    errored: list[dict[str, Any]] = []
    for result in suite_result.results:
        config = result.expectation_config
        meta = dict(config.meta or {})
        severity = meta.get("severity", "error")
        exceptions = _raised(result)
        if result.success and not exceptions:
            continue
        kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id",)}
        res = dict(result.result or {})
        failure: dict[str, Any] = {
            "expectation_type": config.type,
            "column": kwargs.get("column") or kwargs.get("column_list") or meta.get("column"),
            "rule": meta.get("rule"),
            "severity": "error" if exceptions else severity,
            "kwargs": kwargs,
            "observed_value": _jsonable(res.get("observed_value")),
            "unexpected_count": res.get("unexpected_count"),
            "unexpected_percent": res.get("unexpected_percent"),
            "sample_unexpected": [_jsonable(v) for v in list(res.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]],
            "description": getattr(config, "description", None) or config.kwargs.get("description"),
        }
        if config.type == "unexpected_rows_expectation":
            failure["unexpected_count"] = res.get("observed_value")
            failure["sample_unexpected"] = _sample_rows(db_path, dialect, spec, kwargs["unexpected_rows_query"])
        if exceptions:
            failure["exception"] = exceptions
            errored.append(failure)
        failures.append(failure)

    severity_failed = {
        "error": sum(1 for f in failures if f["severity"] == "error"),
        "warning": sum(1 for f in failures if f["severity"] == "warning"),
    }
    stats = dict(suite_result.statistics or {})
    validation_time = (suite_result.meta or {}).get("validation_time")
    statistics = {
        "evaluated_expectations": stats.get("evaluated_expectations"),
        "successful_expectations": stats.get("successful_expectations"),
        "unsuccessful_expectations": stats.get("unsuccessful_expectations"),
        "success_percent": stats.get("success_percent"),
        "validated_at": validation_time.isoformat() if isinstance(validation_time, datetime) else validation_time,
    }
    return AuditResult(
        table=spec.qualified_name,
        suite_name=spec.suite,
        success=severity_failed["error"] == 0,
        severity_failed=severity_failed,
        failures=failures,
        statistics=statistics,
        data_docs_path=index,
        validation_page=page,
        run_name=run_name,
        errored=errored,
    )


def _sample_rows(db_path: Path | str, dialect: Dialect, spec: TableSpec, query: str) -> list[dict[str, Any]]:
    """A few offending rows of an unexpected-rows rule, read directly (read-only) from the warehouse."""
    batch = f'"{spec.schema}"."{spec.table}"'
    try:
        sql = query.format(batch=batch)
        if dialect == "postgres":
            import psycopg

            with psycopg.connect(db_path) as con, con.cursor() as cursor:
                cursor.execute(f"select * from ({sql}) as unexpected limit {SAMPLE_SIZE}")
                columns = [d.name for d in cursor.description]
                return [{c: _jsonable(v) for c, v in zip(columns, row, strict=True)} for row in cursor.fetchall()]
        with duckdb.connect(str(db_path), read_only=True) as con:
            con.execute(f"SET search_path = '{spec.schema}'")
            cursor = con.execute(f"select * from ({sql}) as unexpected limit {SAMPLE_SIZE}")
            columns = [d[0] for d in cursor.description]
            return [{c: _jsonable(v) for c, v in zip(columns, row, strict=True)} for row in cursor.fetchall()]
    except Exception as exc:  # a sample is a courtesy; the expectation result stands
        logger.warning("could not sample unexpected rows for %s: %s", spec.qualified_name, exc)
        return []


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


# --- Data Docs -----------------------------------------------------------------------------------


def _local_site_dir(context: Any, context_root: Path) -> Path:
    site = context.variables.data_docs_sites.get("local_site", {})
    base = site.get("store_backend", {}).get("base_directory", "uncommitted/data_docs/local_site/")
    root = Path(context.root_directory)
    return (root / base).resolve() if root else (Path(context_root) / "gx" / base).resolve()


def _render_run(context: Any, checkpoint_result: Any) -> None:
    """Render this run's validation pages, their suites' pages and the index of the local site, in
    one pass (the index once, not once per table)."""
    identifiers = list(checkpoint_result.run_results)
    suites = {ExpectationSuiteIdentifier(name=r.suite_name) for r in checkpoint_result.run_results.values()}
    context.build_data_docs(site_names=["local_site"], resource_identifiers=[*identifiers, *sorted(suites, key=str)])


def _publish_data_docs(context: Any, context_root: Path, data_docs_index: Path, *, rebuild: bool = True) -> Path:
    """(Re)build the local site and copy the whole folder to ``data_docs_index.parent``."""
    if rebuild:
        context.build_data_docs(site_names=["local_site"])
    site_dir = _local_site_dir(context, context_root)
    index = Path(data_docs_index).resolve()
    target = index.parent
    root = Path(context_root).resolve()
    if target in (root, site_dir) or target in root.parents or target in site_dir.parents:
        raise ValueError(f"Data Docs folder {target} must be a folder of its own (it is replaced on every run)")
    staging = target.with_name(target.name + ".tmp")
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(site_dir, staging)
    offline_docs.localise(staging)
    if index.name != "index.html":
        shutil.copy2(staging / "index.html", staging / index.name)
    old = target.with_name(target.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    if old.exists():
        shutil.rmtree(old)
    return index


def _forget_old_validations(context: Any, context_root: Path, keep: int) -> None:
    """Remove all but the latest `keep` runs of each suite from the validation store and the local
    site: without a bound, every audit rebuilt an index of every audit ever run."""
    store = context.variables.stores["validation_results_store"]["store_backend"]["base_directory"]
    for folder in (Path(context.root_directory) / store, _local_site_dir(context, context_root) / "validations"):
        for suite in (p for p in folder.glob("*") if p.is_dir()):
            runs = sorted((p for p in suite.iterdir() if p.is_dir()), key=lambda p: (p.stat().st_mtime_ns, p.name))
            for old in runs[: max(len(runs) - keep, 0)]:
                shutil.rmtree(old)


def _validation_page(context: Any, identifier: Any, context_root: Path, data_docs_index: Path) -> Path | None:
    """Path of this validation's page inside the copied Data Docs site."""
    try:
        urls = context.get_docs_sites_urls(resource_identifier=identifier, site_name="local_site")
    except Exception:  # pragma: no cover - docs links are a convenience
        return None
    for entry in urls:
        url = entry.get("site_url")
        if not url or not url.startswith("file://"):
            continue
        page = Path(unquote(urlparse(url).path)).resolve()
        site_dir = _local_site_dir(context, context_root)
        try:
            return Path(data_docs_index).resolve().parent / page.relative_to(site_dir)
        except ValueError:
            return page
    return None
