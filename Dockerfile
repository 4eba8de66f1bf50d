# The pipeline image: Dagster, dbt and the MMR code, installed from the lockfile.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends curl make && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY dagster_project dagster_project
COPY expectations expectations
COPY dbt dbt
RUN uv sync --frozen --no-dev --compile-bytecode && uv run --frozen dbt parse --project-dir dbt --profiles-dir dbt
ENV PATH="/app/.venv/bin:$PATH"
