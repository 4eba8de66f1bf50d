"""Expectation suites as code: one module per published table, registered in ``SUITES``.

A suite module defines ``NAME`` (the dbt model), ``SCHEMA`` (where the table lives in the build
database) and ``build(baseline_db=None) -> gx.ExpectationSuite``. ``baseline_db`` is the serving
database published now: rules that compare with the last publish (volume, drift) are added only
when it is given and holds the table. Add new modules to ``_MODULES``; serving tables without a
module of their own get the generic suite of ``expectations.suites.serving`` (``register``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import great_expectations as gx

from expectations.suites import dim_area, wijk_kerncijfers

_MODULES: list[ModuleType] = [dim_area, wijk_kerncijfers]

#: suite name (= table name) -> factory building a fresh ExpectationSuite
SUITES: dict[str, Callable[..., gx.ExpectationSuite]] = {m.NAME: m.build for m in _MODULES}

#: suite name -> schema of the table it audits in the build database
SCHEMAS: dict[str, str] = {m.NAME: m.SCHEMA for m in _MODULES}


def register(name: str, schema: str, factory: Callable[..., gx.ExpectationSuite]) -> None:
    """Add a suite built at run time (e.g. from a serving model's declared columns)."""
    SUITES[name] = factory
    SCHEMAS[name] = schema


def get_suite(name: str, *, baseline_db: Path | None = None) -> gx.ExpectationSuite:
    """Build the registered suite ``name`` (with the rules against ``baseline_db`` when given)."""
    try:
        factory = SUITES[name]
    except KeyError:
        raise KeyError(f"no expectation suite named {name!r}; known: {sorted(SUITES)}") from None
    return factory(baseline_db=baseline_db) if baseline_db is not None else factory()


__all__ = ["SCHEMAS", "SUITES", "get_suite", "register"]
