"""The floor for the cache-hit token path: a Flask route doing one Redis GET and JSON out.

Run under the same gunicorn settings as the bridge::

    BENCH_BASELINE_REDIS_URL=redis://127.0.0.1:PORT/0 BENCH_BASELINE_KEY=some-key \
        python -m gunicorn ... "bench.baseline_app:create_app()"

The benchmark stores a value of the bridge's sealed-token size under ``BENCH_BASELINE_KEY``
first. The Redis client has the bridge's settings (short timeouts, no retries), so the two
differ only in what the bridge does beyond that GET.
"""

from __future__ import annotations

import os

import redis
from flask import Flask, Response, abort, jsonify
from redis.backoff import NoBackoff
from redis.retry import Retry


def create_app() -> Flask:
    url = os.environ["BENCH_BASELINE_REDIS_URL"]
    key = os.environ["BENCH_BASELINE_KEY"]
    timeout = float(os.environ.get("BENCH_BASELINE_REDIS_TIMEOUT", "0.25"))
    client = redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
    app = Flask(__name__)

    @app.post("/v1/tokens")
    def token() -> Response:
        value = client.get(key)
        if value is None:
            abort(404)
        assert isinstance(value, bytes)
        return jsonify({"value": value.decode("ascii")})

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    return app
