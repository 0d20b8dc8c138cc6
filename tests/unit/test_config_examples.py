"""The shipped examples in config/ stay true: they load and mean what the README says."""

from __future__ import annotations

import runpy
from pathlib import Path

from sso_bridge.gunicorn_app import DEFAULTS
from sso_bridge.settings import load_settings, raw_from_environment

CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_example_toml_is_a_valid_configuration() -> None:
    raw = raw_from_environment({"SSO_BRIDGE_CONFIG": str(CONFIG / "sso-bridge.example.toml"),
                                "SSO_BRIDGE_RUM_USERS": '{"dr": "x"}'})
    settings = load_settings(raw)
    assert settings.directory.login_columns == ("email", "username")
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.rum_users == {"dr": "x"}  # the environment adds to (and wins over) the file


def test_gunicorn_config_matches_the_serve_defaults(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    values = runpy.run_path(str(CONFIG / "gunicorn.conf.py"))
    for name in ("worker_class", "threads", "timeout", "graceful_timeout", "keepalive",
                 "max_requests", "max_requests_jitter", "workers"):
        assert values[name] == DEFAULTS[name], name
    assert callable(values["child_exit"]) and callable(values["on_starting"])
