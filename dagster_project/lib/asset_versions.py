"""A Python asset keeps its tables when nothing it reads changed (docs/architecture.md, "Incremental
builds"). dbt notes a version of every model it builds in `dbt_model_versions`
(`dbt/macros/unchanged_inputs.sql`); a Python asset notes there, under each table it writes, the
digest of its code, its settings and the versions of what it read. A run that finds that digest
noted for every table it writes, and the tables there, keeps them."""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import uuid4

if TYPE_CHECKING:
    from dagster_project.resources import Warehouse

VERSIONS_TABLE = "dbt_model_versions"
#: The schema dbt's target writes it in (`dbt/profiles.yml`).
VERSIONS_SCHEMA = {"duckdb": "main", "postgres": "public"}
DBT_PROJECT = "mmr"


def model_node(model: str) -> str:
    """The id dbt notes the version of model `model` under."""
    return f"model.{DBT_PROJECT}.{model}"


def table_node(table: str) -> str:
    """The id a Python asset notes the version of its table `schema.name` under."""
    return f"python.{table}"


def _quoted(values: Iterable[str]) -> str:
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values)


def noted_versions(warehouse: Warehouse, nodes: Iterable[str]) -> dict[str, str]:
    nodes = list(nodes)
    if not nodes or not warehouse.has_table(VERSIONS_SCHEMA[warehouse.dialect], VERSIONS_TABLE):
        return {}
    frame = warehouse.query(f"select node_id, version from {VERSIONS_TABLE} where node_id in ({_quoted(nodes)})")
    return dict(zip(frame["node_id"], frame["version"], strict=True))


def batches_version(warehouse: Warehouse, table: str) -> str:
    """A raw table's rows as one value: their number and the batches they came from."""
    hashed = "hash(_batch_id)" if warehouse.dialect == "duckdb" else "cast(hashtext(_batch_id) as bigint)"
    schema, name = table.split(".")
    if not warehouse.has_table(schema, name):
        return "absent"
    row = warehouse.query(f"select count(*) as n, sum({hashed}) as h from {table}").iloc[0]
    return f"{row['n']}:{row['h']}"


@dataclass(frozen=True)
class Inputs:
    """What a Python asset is about to compute from, as one version, and the tables it writes."""

    warehouse: Warehouse
    writes: tuple[str, ...]
    version: str

    def unchanged(self) -> bool:
        """Whether every table it writes is there and was computed from these same inputs."""
        noted = noted_versions(self.warehouse, (table_node(t) for t in self.writes))
        return all(
            noted.get(table_node(table)) == self.version and self.warehouse.has_table(*table.split("."))
            for table in self.writes
        )

    def note(self) -> None:
        self.warehouse.execute(
            [
                f"create table if not exists {VERSIONS_TABLE} (node_id varchar(300) not null, "
                "version varchar(64) not null)",
                f"delete from {VERSIONS_TABLE} where node_id in ({_quoted(map(table_node, self.writes))})",
                *(
                    f"insert into {VERSIONS_TABLE} (node_id, version) values ({_quoted([table_node(t), self.version])})"
                    for t in self.writes
                ),
            ]
        )


def inputs(
    warehouse: Warehouse,
    modules: Iterable[str],
    writes: Iterable[str],
    models: Iterable[str] = (),
    tables: Iterable[str] = (),
    raw: Iterable[str] = (),
    settings: object = None,
) -> Inputs:
    """The inputs of a Python asset: its code (the source of `modules`), `settings`, the
    dbt models `models`, the tables of other Python assets `tables` and the raw tables `raw` it
    reads. A read whose version is not noted makes a version of its own, which never matches."""
    models, tables = sorted(models), sorted(tables)
    noted = noted_versions(warehouse, [*map(model_node, models), *map(table_node, tables)])
    parts = [
        *(inspect.getsource(importlib.import_module(module)) for module in sorted(modules)),
        repr(settings),
        *(noted.get(model_node(m), uuid4().hex) for m in models),
        *(noted.get(table_node(t), uuid4().hex) for t in tables),
        *(batches_version(warehouse, table) for table in sorted(raw)),
    ]
    version = hashlib.md5("|".join(parts).encode(), usedforsecurity=False).hexdigest()
    return Inputs(warehouse, tuple(writes), version)
