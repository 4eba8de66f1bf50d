"""docker-compose.yml for the shared regional mode: checked as a file (no Docker engine here)."""

import re

import yaml

from dagster_project.settings import PROJECT_ROOT

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_the_shared_mode_services_are_there():
    assert {"postgres", "dagster-webserver", "dagster-daemon", "superset"} <= set(SERVICES)


def test_servers_have_health_checks_and_wait_for_a_healthy_database():
    for name in ("postgres", "dagster-webserver", "superset"):
        assert SERVICES[name]["healthcheck"]["test"], name
    for name in ("dagster-webserver", "dagster-daemon", "superset"):
        assert SERVICES[name]["depends_on"]["postgres"]["condition"] == "service_healthy", name


def test_no_password_or_key_has_a_literal_value():
    text = (PROJECT_ROOT / "docker-compose.yml").read_text()
    for key, value in re.findall(r"^\s*([A-Z_]*(?:PASSWORD|SECRET|KEY)[A-Z_]*):\s*(.+)$", text, re.MULTILINE):
        assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value.strip()), f"{key} must come from the env file"


def test_images_are_built_from_files_in_the_repo():
    for name, service in SERVICES.items():
        if "build" in service:
            build = service["build"]
            dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
            context = build.get("context", ".") if isinstance(build, dict) else build
            assert (PROJECT_ROOT / context / dockerfile).exists() or (PROJECT_ROOT / dockerfile).exists(), name
        else:
            assert ":" in service["image"], f"{name}: pin the image tag"


def test_every_layer_runs_on_the_shared_postgres_service():
    for name in ("dagster-webserver", "dagster-daemon"):
        environment = SERVICES[name]["environment"]
        assert environment["MMR_WAREHOUSE"] == "postgres", name
        assert "@postgres:5432/" in environment["MMR_POSTGRES_DSN"], name
    superset_env = SERVICES["superset"]["environment"]
    assert superset_env["MMR_SUPERSET_METADATA_URI"].startswith("postgresql+psycopg2://mmr:${MMR_POSTGRES_PASSWORD:?")
    assert "search_path%3Dsuperset" in superset_env["MMR_SUPERSET_METADATA_URI"]
    assert "@postgres:5432/" in superset_env["MMR_SERVING_URI"]


def test_dashboards_read_as_a_role_subject_to_row_level_security():
    """Not the owner `mmr` (which row-level security does not bind): a login of the region role."""
    uri = SERVICES["superset"]["environment"]["MMR_SERVING_URI"]
    assert uri.startswith("postgresql+psycopg2://mmr_superset:${MMR_SUPERSET_DB_PASSWORD:?"), uri
    init = SERVICES["postgres"]["volumes"]
    assert "./deploy/postgres-init:/docker-entrypoint-initdb.d:ro" in init
    script = (PROJECT_ROOT / "deploy" / "postgres-init" / "10-roles.sh").read_text()
    role = re.search(r"create role mmr_superset ([^;]+);", script).group(1)
    assert "nosuperuser" in role and "nobypassrls" in role and "login" in role
    assert "grant regio to mmr_superset;" in script


def test_dagster_ui_without_login_listens_on_loopback_only():
    ports = SERVICES["dagster-webserver"]["ports"]
    assert ports and all(str(p).startswith("127.0.0.1:") for p in ports), ports


def test_superset_does_not_mount_the_pipeline_state():
    """The state volume holds the pseudonym key and the raw deliveries: only Dagster needs it."""
    for volume in SERVICES["superset"].get("volumes", []):
        assert not volume.startswith("mmr-state:"), volume
    assert any(v.startswith("mmr-state:") for v in SERVICES["dagster-daemon"]["volumes"])
