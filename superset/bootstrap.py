"""Bootstrap MMR's Superset: metadata schema, roles, admin user and the assets in `superset/assets`.

Runs with Superset's own interpreter (`superset/.venv/bin/python`), normally through
`dagster_project.lib.superset.bootstrap()`, which sets `SUPERSET_CONFIG_PATH`, `SUPERSET_HOME`,
`FLASK_APP` and `MMR_HOME`. Idempotent: assets are matched on their UUID and overwritten, so a
second run changes nothing and creates no duplicates.

    python superset/bootstrap.py [--serving-db PATH]   # upgrade, init, admin, import assets
    python superset/bootstrap.py export DEST           # dashboards from the UI back into DEST

The database asset is a template: `${MMR_SERVING_DB}` in its `sqlalchemy_uri` is replaced with the
absolute path of the serving database in a rendered copy under `$MMR_HOME/superset/import/`, and
`export` puts the placeholder back.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ASSETS_DIR = HERE / "assets"
SERVING_DB_PLACEHOLDER = "${MMR_SERVING_DB}"
ADMIN_USERNAME = "admin"
METADATA_YAML = "version: 1.0.0\ntype: assets\n"
ASSET_FOLDERS = ("databases", "datasets", "charts", "dashboards")
TITLE_KEYS = {
    "databases": "database_name",
    "datasets": "table_name",
    "charts": "slice_name",
    "dashboards": "dashboard_title",
}


def mmr_home() -> Path:
    return Path(os.environ.get("MMR_HOME") or HERE.parent / "var").expanduser().resolve()


def say(message: str) -> None:
    print(f"[superset] {message}", flush=True)


# --- assets on disk (no Superset imports needed) -------------------------------------------------


def render_assets(source: Path, target: Path, serving_db: Path) -> Path:
    """Copy the asset tree to `target`, substituting the serving database path into the database YAML."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    for path in (target / "databases").glob("*.yaml"):
        path.write_text(path.read_text().replace(SERVING_DB_PLACEHOLDER, str(serving_db)))
    return target


def read_bundle(root: Path) -> dict[str, str]:
    """The `{relative path: text}` mapping Superset's import commands take."""
    contents = {
        str(path.relative_to(root)): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.suffix in {".yaml", ".yml"}
    }
    contents.setdefault("metadata.yaml", METADATA_YAML)
    return contents


def asset_file_name(folder: str, config: dict[str, Any]) -> str:
    """`<Title>_<uuid>.yaml`, the name Superset assets carry in this repository."""
    title = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(config[TITLE_KEYS[folder]])).strip("._") or folder
    return f"{title}_{config['uuid']}.yaml"


def untemplate_uri(uri: str, serving_db: Path) -> str:
    return uri.replace(str(serving_db), SERVING_DB_PLACEHOLDER)


def leading_comments(path: Path) -> str:
    """The comment block at the top of an asset file, kept when the file is exported again."""
    lines = []
    for line in path.read_text().splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line)
    return "".join(lines)


def normalise_chart_ids(config: dict[str, Any]) -> None:
    """Drop installation-specific dataset ids from a chart (import sets them again), for clean diffs."""
    params = config.get("params") or {}
    if isinstance(params.get("datasource"), str):
        params["datasource"] = re.sub(r"^\d+__", "0__", params["datasource"])
    params.pop("slice_id", None)
    params.pop("dashboards", None)
    if config.get("query_context"):
        try:
            query_context = json.loads(config["query_context"])
        except ValueError:
            return
        if isinstance(query_context.get("datasource"), dict):
            query_context["datasource"]["id"] = 0
        form_data = query_context.get("form_data") or {}
        if isinstance(form_data.get("datasource"), str):
            form_data["datasource"] = re.sub(r"^\d+__", "0__", form_data["datasource"])
        form_data.pop("slice_id", None)
        form_data.pop("dashboards", None)
        for query in query_context.get("queries") or []:
            if isinstance(query.get("datasource"), dict):
                query["datasource"]["id"] = 0
        config["query_context"] = json.dumps(query_context, ensure_ascii=False)


# --- Superset steps -------------------------------------------------------------------------------


def create_app():  # type: ignore[no-untyped-def]
    from superset.app import create_app as superset_create_app

    return superset_create_app()


def upgrade_metadata_db() -> None:
    from flask_migrate import upgrade

    # Some migrations print progress on stdout; keep stdout for this script's own messages.
    with contextlib.redirect_stdout(sys.stderr):
        upgrade()


def init_roles() -> None:
    """What `superset init` does: register permissions and sync the built-in roles."""
    from superset.extensions import appbuilder, db, security_manager

    appbuilder.add_permissions(update_perms=True)
    security_manager.sync_role_definitions()
    db.session.commit()


def ensure_admin(home: Path) -> None:
    """Create user `admin`; the password comes from the environment or is generated once."""
    from superset.extensions import db, security_manager

    supplied = os.environ.get("MMR_SUPERSET_ADMIN_PASSWORD")
    password_file = home / "superset" / "admin_password"
    user = security_manager.find_user(username=ADMIN_USERNAME)
    if user is not None:
        if supplied and not security_manager.check_password(supplied, user.password):
            security_manager.reset_password(user.id, supplied)
            say("admin password updated from MMR_SUPERSET_ADMIN_PASSWORD")
        return

    generated = False
    if supplied:
        password = supplied
    elif password_file.exists():
        password = password_file.read_text().strip()
    else:
        password = secrets.token_urlsafe(18)
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        generated = True

    role = security_manager.find_role(security_manager.auth_role_admin)
    created = security_manager.add_user(
        ADMIN_USERNAME, "MMR", "Beheerder", "admin@mmr.invalid", role, password=password
    )
    if not created:
        raise RuntimeError("could not create the Superset admin user")
    db.session.commit()
    if generated:
        say(f"admin user created: username 'admin', password '{password}' (stored in {password_file})")
    else:
        say("admin user created: username 'admin'")


def import_assets(bundle_dir: Path) -> int:
    from flask import g
    from superset.commands.importers.v1.assets import ImportAssetsCommand
    from superset.extensions import security_manager

    g.user = security_manager.find_user(username=ADMIN_USERNAME)
    contents = read_bundle(bundle_dir)
    ImportAssetsCommand(contents).run()
    return len(contents) - 1


def export_dashboards(dest: Path, serving_db: Path) -> list[Path]:
    """Write every dashboard (with its charts, datasets and database) into `dest` as assets."""
    from flask import g
    from superset.commands.dashboard.export import ExportDashboardsCommand
    from superset.extensions import db, security_manager
    from superset.models.dashboard import Dashboard

    g.user = security_manager.find_user(username=ADMIN_USERNAME)
    ids = [dashboard_id for (dashboard_id,) in db.session.query(Dashboard.id).all()]
    exported: dict[str, dict[str, Any]] = {}
    for file_name, content in ExportDashboardsCommand(ids, export_related=True).run():
        if file_name == "metadata.yaml":
            continue
        exported[file_name] = yaml.safe_load(content())

    dataset_names = {
        # the contract's name: catalog (the file name, `serving`) and table
        str(config["uuid"]): f"{(config.get('schema') or 'main').split('.')[0]}.{config['table_name']}"
        for file_name, config in exported.items()
        if file_name.startswith("datasets/")
    }
    written: list[Path] = []
    for file_name, config in exported.items():
        folder = file_name.split("/", 1)[0]
        if folder not in ASSET_FOLDERS:
            continue
        sub = dest / folder
        if folder == "datasets":
            sub = dest / "datasets" / file_name.split("/")[1]  # datasets/<database>/<table>
        sub.mkdir(parents=True, exist_ok=True)
        same_uuid = sorted(sub.glob(f"*_{config['uuid']}.yaml"))
        if folder == "databases":
            if same_uuid:
                continue  # the connection is defined in code (a template), not in the UI
            config["sqlalchemy_uri"] = untemplate_uri(config["sqlalchemy_uri"], serving_db)
        if folder == "charts":
            normalise_chart_ids(config)
        header = leading_comments(same_uuid[0]) if same_uuid else ""
        for old in same_uuid:
            old.unlink()
        text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)
        if folder == "charts":
            uuid = str(config["dataset_uuid"])
            text = text.replace(f"dataset_uuid: {uuid}\n", f"dataset_uuid: {uuid}  # {dataset_names.get(uuid, '?')}\n")
        target = sub / asset_file_name(folder, config)
        target.write_text(header + text)
        written.append(target)
    if not (dest / "metadata.yaml").exists():
        (dest / "metadata.yaml").write_text(METADATA_YAML)
    return written


# --- entry point ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="bootstrap", choices=["bootstrap", "export"])
    parser.add_argument("dest", nargs="?", type=Path, help="export: the assets folder to write into")
    parser.add_argument("--serving-db", type=Path, default=None, help="default: $MMR_HOME/warehouse/...")
    parser.add_argument("--assets", type=Path, default=ASSETS_DIR)
    args = parser.parse_args(argv)

    home = mmr_home()
    (home / "superset").mkdir(parents=True, exist_ok=True)
    serving_db = (args.serving_db or home / "warehouse" / "serving.duckdb").expanduser().resolve()

    app = create_app()
    with app.app_context():
        if args.command == "export":
            if args.dest is None:
                parser.error("export needs DEST")
            written = export_dashboards(args.dest.resolve(), serving_db)
            say(f"exported {len(written)} asset files into {args.dest}")
            return 0

        started = time.monotonic()
        upgrade_metadata_db()
        say(f"metadata database up to date ({time.monotonic() - started:.0f}s)")
        init_roles()
        say(f"roles and permissions synced ({time.monotonic() - started:.0f}s)")
        ensure_admin(home)
        if not serving_db.exists():
            say(f"note: {serving_db} does not exist yet; dashboards stay empty until the first publish")
        bundle = render_assets(args.assets, home / "superset" / "import", serving_db)
        count = import_assets(bundle)
        say(f"imported {count} asset files from {args.assets} ({time.monotonic() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
