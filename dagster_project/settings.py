"""All configuration of MMR, read from `MMR_*` environment variables and an optional `.env`.

No secret has a usable default: keys are generated once per installation under `var/`
(mode 600) or must be supplied through the environment.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MMR_", env_file=".env", extra="ignore")

    home: Path = Field(default=PROJECT_ROOT / "var", description="Runtime state: landing, warehouse, logs.")
    warehouse: Literal["duckdb", "postgres"] = "duckdb"
    postgres_dsn: str | None = Field(default=None, description="postgresql://user@host:port/db")
    pseudonym_key: str | None = Field(default=None, description="HMAC key for BSN pseudonyms.")
    superset_admin_password: str | None = None
    suppression_threshold: int = 10
    landing_retention_days: int | None = Field(
        default=0,
        ge=0,
        description=(
            "Days a delivery stays in landing/ after a successful ingest: 0 (the default) removes it at once,"
            " `keep` keeps every delivery (an installation that manages landing/ itself)."
        ),
    )
    rounding_base: int = 5
    analytics_confidence: float = Field(
        default=0.95, gt=0, lt=1, description="Confidence level of every interval the analytics report."
    )
    analytics_comparison_wijken: int = Field(
        default=10, ge=1, description="Comparable wijken per wijk (intervention effects, benchmarks)."
    )
    analytics_comparison_gemeenten: int = Field(default=5, ge=1, description="Comparable gemeenten per gemeente.")
    funding_budget_column: Literal["begroting_na_wijziging", "begroting_primair", "realisatie"] = Field(
        default="begroting_na_wijziging", description="Which budget of fct_budget population-based funding allocates."
    )
    funding_budget_factor: float = Field(
        default=1.0, gt=0, description="Scenario: multiply every budget (0.95 = a 5% cut) before allocating."
    )
    funding_budget_overrides: dict[str, float] = Field(
        default_factory=dict,
        description='Scenario: budget totals that replace fct_budget, keyed "GM0489/jeugd/2024" (JSON in the env var).',
    )
    funding_need_weight: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="Share of a budget allocated by expected need; the rest follows the number of inhabitants.",
    )
    duckdb_memory_limit: str = Field(
        default="2.5GB",
        description=(
            "Memory DuckDB may use for its buffers in dbt, ingestion and the analytics; beyond it, it"
            " spills to `<build.duckdb>.tmp`."
        ),
    )
    dagster_port: int = 3000
    superset_port: int = 8088
    cbs_odata_url: str = Field(
        default="https://opendata.cbs.nl", description="CBS open data (OData v3 catalog and feeds)."
    )
    cbs_kwb_from_year: int = Field(default=2022, description="First KWB year the yearly fetch looks for.")
    vektis_url: str = Field(
        default="https://www.vektis.nl/uploads/Docs%20per%20pagina/Open%20Data%20Bestanden",
        description="Folder of Vektis' open data files (Zorgverzekeringswet per gemeente and postcode-3).",
    )
    vektis_from_year: int = Field(default=2021, description="First Vektis year the yearly fetch looks for.")
    fetch_timeout_seconds: float = Field(default=120, description="Timeout of one HTTP request of a connector.")

    @field_validator("landing_retention_days", mode="before")
    @classmethod
    def _keep_means_none(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip().lower() == "keep" else value

    @property
    def landing_dir(self) -> Path:
        return self.home / "landing"

    @property
    def archive_dir(self) -> Path:
        return self.home / "archive"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def warehouse_dir(self) -> Path:
        return self.home / "warehouse"

    @property
    def build_db(self) -> Path:
        return self.warehouse_dir / "build.duckdb"

    @property
    def serving_db(self) -> Path:
        return self.warehouse_dir / "serving.duckdb"

    @property
    def gx_dir(self) -> Path:
        return self.home / "gx"

    @property
    def data_docs_index(self) -> Path:
        return self.gx_dir / "data_docs" / "index.html"

    @property
    def generator_dir(self) -> Path:
        return self.home / "generator"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def superset_home(self) -> Path:
        return self.home / "superset"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    def ensure_dirs(self) -> None:
        for path in (
            self.landing_dir,
            self.archive_dir,
            self.quarantine_dir,
            self.warehouse_dir,
            self.gx_dir,
            self.generator_dir,
            self.dagster_home,
            self.superset_home,
            self.log_dir,
            self.run_dir,
        ):
            path.mkdir(parents=True, exist_ok=True)

    def secret(self, name: str, supplied: str | None = None) -> str:
        """A per-installation secret: the supplied value, or one generated once into `var/secrets/`."""
        if supplied:
            return supplied
        path = self.home / "secrets" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def require_postgres_dsn(self) -> str:
        """The shared warehouse's DSN; the shared mode cannot run without one."""
        if not self.postgres_dsn:
            raise ValueError("MMR_WAREHOUSE=postgres needs MMR_POSTGRES_DSN (postgresql://user@host:port/db)")
        return self.postgres_dsn

    def get_pseudonym_key(self) -> bytes:
        return self.secret("pseudonym_key", self.pseudonym_key).encode()


@lru_cache
def get_settings() -> Settings:
    return Settings()
