"""Superset configuration for MMR, loaded through `SUPERSET_CONFIG_PATH`.

This file runs inside Superset's own environment (`superset/.venv`), so it must not import
`dagster_project`; the few settings it needs are read from the same `MMR_*` environment variables.

- `MMR_HOME`: runtime state (default: `<repo>/var`); Superset keeps its state in `$MMR_HOME/superset`.
- `MMR_SUPERSET_SECRET_KEY`: Flask secret key; otherwise one is generated once per installation
  into `$MMR_HOME/superset/secret_key` (mode 600). There is no default key.
- `MMR_SUPERSET_METADATA_URI`: metadata database (PostgreSQL in shared mode); default SQLite
  at `$MMR_HOME/superset/superset.db`.
- `MMR_REDIS_URL`: when set, Superset caches (metadata, chart data, filter state) in Redis.
- `MMR_SUPERSET_LANGUAGE`: default UI language, `nl` (default) or `en`.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MMR_HOME = Path(os.environ.get("MMR_HOME") or REPO_ROOT / "var").expanduser().resolve()
MMR_SUPERSET_HOME = MMR_HOME / "superset"
MMR_SUPERSET_HOME.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """The supplied key, or one generated once into `$MMR_HOME/superset/secret_key` (mode 600)."""
    supplied = os.environ.get("MMR_SUPERSET_SECRET_KEY")
    if supplied:
        return supplied
    path = MMR_SUPERSET_HOME / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty: remove it to generate a new Superset secret key")
    return key


SECRET_KEY = _secret_key()

# --- metadata database -------------------------------------------------------------------------
SQLALCHEMY_DATABASE_URI = os.environ.get("MMR_SUPERSET_METADATA_URI") or (
    f"sqlite:///{MMR_SUPERSET_HOME / 'superset.db'}?check_same_thread=false"
)
DATA_DIR = str(MMR_SUPERSET_HOME)
UPLOAD_FOLDER = str(MMR_SUPERSET_HOME / "uploads")

# --- access --------------------------------------------------------------------------------------
# No anonymous access: the Public role gets no permissions, so every dashboard needs a login.
PUBLIC_ROLE_LIKE = None
AUTH_ROLE_PUBLIC = "Public"
AUTH_USER_REGISTRATION = False

# Native filters and deck.gl charts are built in; dashboard RBAC lets a dashboard be limited to
# roles (per gemeente). RLS is applied in SQL Lab too.
FEATURE_FLAGS = {
    "DASHBOARD_RBAC": True,
    "RLS_IN_SQLLAB": True,
    "ENABLE_TEMPLATE_PROCESSING": False,
    "ALERT_REPORTS": False,
    "EMBEDDED_SUPERSET": False,
}

# Map tiles for deck.gl charts: OpenStreetMap; Mapbox styles only when a key is supplied.
MAPBOX_API_KEY = os.environ.get("MAPBOX_API_KEY", "")

# --- language and formats -----------------------------------------------------------------------
BABEL_DEFAULT_LOCALE = os.environ.get("MMR_SUPERSET_LANGUAGE", "nl")
LANGUAGES = {
    "nl": {"flag": "nl", "name": "Nederlands"},
    "en": {"flag": "us", "name": "English"},
}
D3_FORMAT = {
    "decimal": ",",
    "thousands": ".",
    "grouping": [3],
    "currency": ["€ ", ""],
}
CURRENCIES = ["EUR"]

# Superset's own empty-chart texts ("Geen data") say nothing of why a figure is missing. In MMR
# it is missing for one of two reasons: the source is not delivered for this gemeente and period
# (an installation with public data only, a gemeente that has not delivered yet), or the count
# is too small to publish. The Dutch language pack says so wherever Superset has no figure.
EMPTY_STATE_NL = {
    "No data": "Geen cijfer: niet geleverd voor deze selectie, of te klein om te tonen",
    "No results were returned for this query": "Geen cijfers voor deze selectie",
    "Make sure that the controls are configured properly and the datasource contains data for the selected "
    "time range": (
        "De bron is voor deze gemeente en periode (nog) niet geleverd, of de aantallen zijn te klein om te "
        "tonen zonder personen herkenbaar te maken."
    ),
    "No data after filtering or data is NULL for the latest time record": (
        "Geen cijfer: niet geleverd voor deze selectie, of te klein om te tonen"
    ),
}


def FLASK_APP_MUTATOR(app) -> None:  # noqa: N802 (Superset's name for the hook)
    """Serve the Dutch language pack with `EMPTY_STATE_NL` in place of Superset's own texts."""
    import json
    from functools import cache

    import superset
    from flask import Response, request

    @cache
    def dutch_pack() -> str:
        path = Path(superset.__file__).parent / "translations" / "nl" / "LC_MESSAGES" / "messages.json"
        pack = json.loads(path.read_text(encoding="utf-8"))
        messages = pack["locale_data"]["superset"]
        messages.update({key: [text] for key, text in EMPTY_STATE_NL.items() if key in messages})
        return json.dumps(pack)

    @app.before_request
    def dutch_language_pack():
        if request.path.rstrip("/") == "/superset/language_pack/nl":
            return Response(dutch_pack(), mimetype="application/json")
        return None


APP_NAME = "MMR — Monitor Maatschappelijk Resultaat"

# --- caching ------------------------------------------------------------------------------------
# Without Redis nothing is cached, so a newly published serving database is visible at once.
_REDIS_URL = os.environ.get("MMR_REDIS_URL")
if _REDIS_URL:

    def _redis_cache(prefix: str, timeout: timedelta) -> dict:
        return {
            "CACHE_TYPE": "RedisCache",
            "CACHE_DEFAULT_TIMEOUT": int(timeout.total_seconds()),
            "CACHE_KEY_PREFIX": f"mmr_superset_{prefix}_",
            "CACHE_REDIS_URL": _REDIS_URL,
        }

    CACHE_CONFIG = _redis_cache("meta", timedelta(days=1))
    # Chart data: short, because the serving database is replaced on every publish.
    DATA_CACHE_CONFIG = _redis_cache("data", timedelta(minutes=10))
    FILTER_STATE_CACHE_CONFIG = _redis_cache("filter", timedelta(days=90))
    EXPLORE_FORM_DATA_CACHE_CONFIG = _redis_cache("explore", timedelta(days=7))
    RATELIMIT_STORAGE_URI = _REDIS_URL

# --- web server ---------------------------------------------------------------------------------
# Served on 127.0.0.1 by default; the shared mode puts a TLS proxy in front.
ENABLE_PROXY_FIX = os.environ.get("MMR_SUPERSET_PROXY_FIX", "").lower() in {"1", "true", "yes"}
TALISMAN_ENABLED = os.environ.get("MMR_SUPERSET_TALISMAN", "true").lower() in {"1", "true", "yes"}
SESSION_COOKIE_SECURE = os.environ.get("MMR_SUPERSET_SECURE_COOKIES", "").lower() in {"1", "true", "yes"}
SUPERSET_WEBSERVER_TIMEOUT = 120
SQLLAB_TIMEOUT = 120
ROW_LIMIT = 50000
