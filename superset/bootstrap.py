"""Bootstrap MMR's Superset: metadata schema, roles, admin user and the assets in `superset/assets`.

Runs with Superset's own interpreter (`superset/.venv/bin/python`), normally through
`dagster_project.ops.superset.bootstrap()`, which sets `SUPERSET_CONFIG_PATH`, `SUPERSET_HOME`,
`FLASK_APP` and `MMR_HOME`. Idempotent: assets are matched on their UUID and overwritten, so a
second run changes nothing and creates no duplicates.

    python superset/bootstrap.py [--serving-db PATH]   # upgrade, init, admin, import assets
    python superset/bootstrap.py export DEST           # dashboards from the UI back into DEST

The database asset is a template: `${MMR_SERVING_DB}` in its `sqlalchemy_uri` is replaced with the
absolute path of the serving database in a rendered copy under `$MMR_HOME/superset/import/`, and
`export` puts the placeholder back.

Access (see `superset/users.yaml` for the file format):
- role `gemeente_<code>` per gemeente of the region (e.g. `gemeente_GM0597`): read dashboards and
  charts, rows of its own gemeente only (a row-level security rule on `gemeente_code`), including
  the history of gemeenten that went into it (Voorne aan Zee reads Brielle's 2022 wijken);
- role `regio`: the same, rows of every gemeente of the region;
- role `mmr_lezer`: the same permissions without any rule, the base for custom roles;
- a base rule gives every other role (except Admin) no rows at all, on every dataset;
- none of these roles has SQL Lab (row-level security does not cover ad-hoc SQL everywhere);
- the Public role has no permissions: nothing is visible without a login;
- users and their roles come from `$MMR_HOME/superset/users.yaml`; a user without a `password`
  gets a generated one in `$MMR_HOME/superset/passwords/<username>` (mode 600), printed once.
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
#: Where the shared PostgreSQL warehouse publishes (dagster_project.publish.schema_swap).
PUBLISHED_SCHEMA = "published"
ADMIN_USERNAME = "admin"
DATABASE_NAME = "MMR serving"
REGION_ROLE = "regio"
READER_ROLE = "mmr_lezer"
GEMEENTE_ROLE_PREFIX = "gemeente_"
RLS_KEY = "gemeente_code"
BASE_RULE = "basis: geen rijen zonder regel"
GEMEENTE_CODE_RE = re.compile(r"^GM\d{4}$")
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


def serving_uri() -> str | None:
    """The shared warehouse's published schema (`MMR_SERVING_URI`, set in the shared mode), or None."""
    return os.environ.get("MMR_SERVING_URI") or None


def render_assets(source: Path, target: Path, serving_db: Path) -> Path:
    """Copy the asset tree to `target`, substituting the serving database path into the database YAML.

    In the shared mode the database is the shared PostgreSQL warehouse instead, and every dataset
    reads schema `published` (where a publish swaps in each new version).
    """
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    uri = serving_uri()
    for path in (target / "databases").glob("*.yaml"):
        text = path.read_text()
        if uri:
            text = re.sub(r"(?m)^sqlalchemy_uri: .*$", lambda _: f"sqlalchemy_uri: {uri}", text)
        path.write_text(text.replace(SERVING_DB_PLACEHOLDER, str(serving_db)))
    if uri:
        for path in (target / "datasets").rglob("*.yaml"):
            path.write_text(re.sub(r"(?m)^schema: .*$", f"schema: {PUBLISHED_SCHEMA}", path.read_text()))
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


def ensure_metadata_schema() -> str | None:
    """Create the schema Superset's metadata goes into on a shared PostgreSQL database (the
    `-csearch_path=<schema>` option of `MMR_SUPERSET_METADATA_URI`); migrations do not."""
    uri = os.environ.get("MMR_SUPERSET_METADATA_URI", "")
    match = re.search(r"search_path(?:=|%3D)([a-z_][a-z0-9_]*)", uri)
    if not uri.startswith("postgresql") or not match:
        return None
    import sqlalchemy

    engine = sqlalchemy.create_engine(uri)
    try:
        with engine.begin() as con:
            con.execute(sqlalchemy.text(f'create schema if not exists "{match.group(1)}"'))
    finally:
        engine.dispose()
    return match.group(1)


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
    from werkzeug.security import check_password_hash

    supplied = os.environ.get("MMR_SUPERSET_ADMIN_PASSWORD")
    password_file = home / "superset" / "admin_password"
    user = security_manager.find_user(username=ADMIN_USERNAME)
    if user is not None:
        if supplied and not check_password_hash(user.password, supplied):
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


# --- roles, row-level security and users --------------------------------------------------------


class UsersFileError(ValueError):
    """The users file is not what `superset/users.yaml` documents."""


def read_users_file(path: Path) -> dict[str, Any]:
    """The users file (`regio`, `users`), validated; an absent file means: no users besides admin."""
    if not path.exists():
        return {"regio": {"gemeenten": "alle"}, "users": []}
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UsersFileError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(config, dict):
        raise UsersFileError(f"{path}: expected a mapping with `regio` and `users`")
    regio = config.get("regio") or {"gemeenten": "alle"}
    gemeenten = regio.get("gemeenten", "alle")
    if gemeenten != "alle" and (
        not isinstance(gemeenten, list) or not all(GEMEENTE_CODE_RE.match(str(c)) for c in gemeenten)
    ):
        raise UsersFileError(f"{path}: regio.gemeenten must be `alle` or a list of codes like GM0501")
    users = config.get("users") or []
    if not isinstance(users, list):
        raise UsersFileError(f"{path}: `users` must be a list")
    seen = set()
    for number, user in enumerate(users, start=1):
        if not isinstance(user, dict) or not user.get("username"):
            raise UsersFileError(f"{path}: user {number} has no username")
        name = str(user["username"])
        if name == ADMIN_USERNAME:
            raise UsersFileError(f"{path}: user {number}: `admin` is managed by MMR itself")
        if name in seen:
            raise UsersFileError(f"{path}: user {number}: username {name!r} appears twice")
        seen.add(name)
        if not isinstance(user.get("roles"), list) or not user["roles"]:
            raise UsersFileError(f"{path}: user {number} ({name}): `roles` must be a non-empty list")
    return {"regio": {**regio, "gemeenten": gemeenten}, "users": users}


def serving_gemeenten(serving_db: Path) -> dict[str, list[str]]:
    """Per gemeente the serving database knows, the gemeente codes whose rows it reads: its own and
    those of every gemeente that went into it (`huidige_gemeente_code` of dim_area)."""
    query = "select distinct gemeente_code, huidige_gemeente_code from {}.dim_area where gemeente_code is not null"
    uri, rows = serving_uri(), []
    if uri:
        import sqlalchemy

        engine = sqlalchemy.create_engine(uri)
        try:
            with engine.connect() as con:
                rows = con.execute(sqlalchemy.text(query.format(PUBLISHED_SCHEMA))).fetchall()
        except sqlalchemy.exc.ProgrammingError:  # nothing published yet
            rows = []
        finally:
            engine.dispose()
    elif serving_db.exists():
        import duckdb

        with duckdb.connect(str(serving_db), read_only=True) as con:
            rows = con.execute(query.format("main")).fetchall()
    reads: dict[str, set[str]] = {}
    for code, current in rows:
        reads.setdefault(current, {current}).add(code)
    return {code: sorted(reads[code]) for code in sorted(reads)}


def serving_datasets() -> list[Any]:
    """The datasets on the serving database that carry the row-level security key."""
    from superset.connectors.sqla.models import SqlaTable
    from superset.extensions import db
    from superset.models.core import Database

    database = db.session.query(Database).filter_by(database_name=DATABASE_NAME).one()
    tables = db.session.query(SqlaTable).filter_by(database_id=database.id).order_by(SqlaTable.table_name).all()
    missing = [t.table_name for t in tables if RLS_KEY not in {c.column_name for c in t.columns}]
    if missing:
        raise RuntimeError(f"datasets without a {RLS_KEY} column cannot be secured: {', '.join(missing)}")
    return tables


def reader_permissions(database: Any) -> list[Any]:
    """Gamma's permissions (no SQL Lab) plus read access to the serving database."""
    from superset.extensions import security_manager

    pvms = security_manager._get_all_pvms()
    gamma = [pvm for pvm in pvms if security_manager._is_gamma_pvm(pvm)]
    access = security_manager.add_permission_view_menu("database_access", database.perm)
    return [*gamma, access]


def upsert_rule(name: str, description: str, filter_type: str, clause: str, tables: list, roles: list) -> None:
    from superset.connectors.sqla.models import RowLevelSecurityFilter
    from superset.extensions import db

    rule = db.session.query(RowLevelSecurityFilter).filter_by(name=name).one_or_none()
    if rule is None:
        rule = RowLevelSecurityFilter(name=name)
        db.session.add(rule)
    rule.description = description
    rule.filter_type = filter_type
    rule.group_key = RLS_KEY if filter_type == "Regular" else None
    rule.clause = clause
    rule.tables = list(tables)
    rule.roles = list(roles)


def quoted(codes: list[str]) -> str:
    """Gemeente codes as an SQL list (codes are checked against GEMEENTE_CODE_RE first)."""
    if not all(GEMEENTE_CODE_RE.match(code) for code in codes):
        raise ValueError(f"not a gemeente code among {codes}")
    return ", ".join(f"'{code}'" for code in codes) or "NULL"


def ensure_security(region: dict[str, Any], serving_db: Path, named: set[str] = frozenset()) -> list[str]:
    """Roles per gemeente and for the region, their row-level security, and a base rule for the rest.

    With `gemeenten: alle` the region is every gemeente of the latest year in the serving database
    plus those `named` in the users file (so users can be set up before the first publish). A
    gemeente's role also reads the rows of the gemeenten that went into it: their history is its own.
    """
    from superset.connectors.sqla.models import RowLevelSecurityFilter
    from superset.extensions import db, security_manager
    from superset.models.core import Database

    reads = serving_gemeenten(serving_db)
    went_into = {old: code for code, olds in reads.items() for old in olds if old != code}
    for code in sorted(set(named) & set(went_into)):
        say(f"note: {code} went into {went_into[code]}; give its users role {GEMEENTE_ROLE_PREFIX}{went_into[code]}")
    codes = sorted(set(reads) | set(named)) if region["gemeenten"] == "alle" else sorted(region["gemeenten"])
    database = db.session.query(Database).filter_by(database_name=DATABASE_NAME).one()
    tables = serving_datasets()
    permissions = reader_permissions(database)

    def role(name: str) -> Any:
        found = security_manager.find_role(name) or security_manager.add_role(name)
        found.permissions = list(permissions)
        return found

    role(READER_ROLE)
    gemeente_roles = []
    for code in codes:
        gemeente_role = role(f"{GEMEENTE_ROLE_PREFIX}{code}")
        gemeente_roles.append(gemeente_role)
        upsert_rule(
            f"gemeente {code}",
            f"Rol {gemeente_role.name} ziet alleen rijen van gemeente {code} en van gemeenten die erin opgingen.",
            "Regular",
            f"{RLS_KEY} IN ({quoted(reads.get(code, [code]))})",
            tables,
            [gemeente_role],
        )
    region_role = role(REGION_ROLE)
    in_region = quoted(sorted({row for code in codes for row in reads.get(code, [code])}))
    upsert_rule(
        "regio",
        f"Rol regio ziet de rijen van alle gemeenten van de regio ({len(codes)}).",
        "Regular",
        f"{RLS_KEY} IN ({in_region})",
        tables,
        [region_role],
    )
    # Rules of gemeenten that left the region are removed with their rows.
    wanted = {f"gemeente {code}" for code in codes}
    for stale in db.session.query(RowLevelSecurityFilter).filter(RowLevelSecurityFilter.name.like("gemeente %")):
        if stale.name not in wanted:
            db.session.delete(stale)
    admin = security_manager.find_role(security_manager.auth_role_admin)
    upsert_rule(
        BASE_RULE,
        "Iedere rol zonder eigen regel (behalve Admin) krijgt geen rijen.",
        "Base",
        "1 = 0",
        tables,
        [admin, region_role, *gemeente_roles],
    )
    public = security_manager.find_role(security_manager.auth_role_public)
    if public is not None:
        public.permissions = []
    db.session.commit()
    return codes


def _store_password(home: Path, username: str) -> tuple[str, bool]:
    """The user's generated password from `passwords/<username>`, creating it (mode 600) when absent."""
    folder = home / "superset" / "passwords"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / username
    if path.exists():
        return path.read_text().strip(), False
    password = secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    return password, True


def ensure_users(users: list[dict[str, Any]], home: Path, users_file: Path) -> list[str]:
    """Create or update the users of the users file with exactly the roles it lists."""
    from superset.extensions import db, security_manager
    from werkzeug.security import check_password_hash

    messages = []
    for number, entry in enumerate(users, start=1):
        username = str(entry["username"])
        roles = []
        for name in entry["roles"]:
            found = security_manager.find_role(str(name))
            if found is None:
                raise UsersFileError(f"{users_file}: user {number} ({username}): unknown role {name!r}")
            roles.append(found)
        supplied = entry.get("password")
        user = security_manager.find_user(username=username)
        if user is None:
            password, generated = (str(supplied), False) if supplied else _store_password(home, username)
            created = security_manager.add_user(
                username,
                str(entry.get("first_name") or username),
                str(entry.get("last_name") or "-"),
                str(entry.get("email") or f"{username}@mmr.invalid"),
                roles,
                password=password,
            )
            if not created:
                raise RuntimeError(f"could not create Superset user {username!r}")
            where = f" (stored in {home / 'superset' / 'passwords' / username})" if generated else ""
            messages.append(f"user {username} created{where}" + (f": password '{password}'" if generated else ""))
            continue
        user.roles = roles
        for field in ("first_name", "last_name", "email"):
            if entry.get(field):
                setattr(user, field, str(entry[field]))
        if supplied and not check_password_hash(user.password, str(supplied)):
            security_manager.reset_password(user.id, str(supplied))
    db.session.commit()
    return messages


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
        if folder == "datasets" and config.get("schema") == PUBLISHED_SCHEMA:
            config["schema"] = "serving.main"  # assets name the one-machine layout; bootstrap maps it
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

    ensure_metadata_schema()
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
        if not serving_uri() and not serving_db.exists():
            say(f"note: {serving_db} does not exist yet; dashboards stay empty until the first publish")
        bundle = render_assets(args.assets, home / "superset" / "import", serving_db)
        count = import_assets(bundle)
        say(f"imported {count} asset files from {args.assets} ({time.monotonic() - started:.0f}s)")
        users_file = home / "superset" / "users.yaml"
        config = read_users_file(users_file)
        named = {
            str(role).removeprefix(GEMEENTE_ROLE_PREFIX)
            for user in config["users"]
            for role in user["roles"]
            if GEMEENTE_CODE_RE.match(str(role).removeprefix(GEMEENTE_ROLE_PREFIX))
        }
        codes = ensure_security(config["regio"], serving_db, named)
        say(f"roles and row-level security for {len(codes)} gemeenten and the region")
        for message in ensure_users(config["users"], home, users_file):
            say(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
