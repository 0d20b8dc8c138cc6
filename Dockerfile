# sso-bridge image. Build from the repository root: docker build -t sso-bridge .
# Two stages: the build stage installs the project into a virtualenv; the final image gets that
# virtualenv and the gunicorn settings only, so no build directory, egg-info or pip cache (all
# root-owned) is left in the application's directory.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sso_bridge ./sso_bridge
RUN python -m venv /opt/sso-bridge && /opt/sso-bridge/bin/pip install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/sso-bridge/bin:$PATH
RUN useradd --system --uid 10001 --create-home --home-dir /app sso-bridge
COPY --from=build /opt/sso-bridge /opt/sso-bridge
WORKDIR /app
COPY config ./config
USER sso-bridge
EXPOSE 8080
ENV SSO_BRIDGE_BIND=0.0.0.0:8080
# Follows SSO_BRIDGE_BIND (a wildcard bind is asked on loopback), so a new port needs no change here.
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["sso-bridge", "healthcheck"]
# The gunicorn master checks the start-up contract (settings, schema, RUM credentials) first
# and exits with status 2 and one line if any fails; run `sso-bridge db upgrade` before.
CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "sso_bridge:create_app()"]
