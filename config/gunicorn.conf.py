# gunicorn settings for sso-bridge: `gunicorn -c config/gunicorn.conf.py "sso_bridge:create_app()"`.
# `sso-bridge serve` uses the same values (sso_bridge/gunicorn_app.py); keep the two in step.
import os

from sso_bridge.gunicorn_hooks import child_exit, on_starting, prepare_metrics_directory
from sso_bridge.settings import forwarded_allow_ips_setting

# Metrics from every worker are aggregated through files in this directory (emptied at start).
prepare_metrics_directory()

bind = os.environ.get("SSO_BRIDGE_BIND", "127.0.0.1:8080")
# Password hashing is CPU-bound: about one worker per core. Threads overlap the I/O of the
# token path (Redis, DR) and keep tail latency tight (gevent showed 70-100 ms p99 tails).
workers = int(os.environ.get("SSO_BRIDGE_WORKERS", "2"))
# gthread, except that requests are read whole in the event loop under deadlines before a
# thread serves them (slow clients cannot hold threads), and connections spread over workers.
worker_class = "sso_bridge.server.worker.BufferingWorker"
threads = 4
timeout = 30
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then so a slow leak can never grow without bound, but rarely: a
# replacement drops the worker's keep-alive connections and its local caches and re-imports the
# app (10,000 did that every few seconds at the 2-core machine's rates: bench/ README).
max_requests = 1_000_000
max_requests_jitter = 100_000
# Behind a TLS-terminating proxy, list its address so X-Forwarded-* are believed only from it:
# the bridge's own setting (SSO_BRIDGE_FORWARDED_ALLOW_IPS), which the RUM allowlist uses too.
forwarded_allow_ips = ",".join(forwarded_allow_ips_setting())
accesslog = None
# No runtime control socket: by default every instance on a host would share
# $HOME/.gunicorn/gunicorn.ctl, and a read-only container cannot create it.
control_socket_disable = True

__all__ = ["child_exit", "on_starting"]
