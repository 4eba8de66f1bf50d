#!/bin/sh
# Runs once, when the PostgreSQL volume is created (docker-entrypoint-initdb.d).
# Superset reads the published schema as `mmr_superset`: a login without superuser or BYPASSRLS,
# member of the region role `regio`, so the row-level security of every published table applies to
# dashboards too (the pipeline's publish grants `regio` the region's gemeenten).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v superset_password="$MMR_SUPERSET_DB_PASSWORD" <<'SQL'
create role regio nologin;
create role mmr_superset login nosuperuser nobypassrls nocreatedb nocreaterole password :'superset_password';
grant regio to mmr_superset;
SQL
