FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY sso_bridge ./sso_bridge
COPY config ./config
RUN pip install . && useradd --system --uid 10001 --home-dir /app sso-bridge
USER sso-bridge
EXPOSE 8080
ENV SSO_BRIDGE_BIND=0.0.0.0:8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"
CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "sso_bridge:create_app()"]
