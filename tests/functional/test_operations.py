"""Day-one operations: no metrics directory left behind, a health check that follows the bind,
one line per repeated warning, a warning when /v1 has no keys, and a demo that checks its port."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from tests.helpers import RUM_PASSWORD, RUM_USER, dr_login_request
from tests.servers import ROOT, Gunicorn, OwnRedis, config_environment, free_port, wait_until_up

SCRIPT = Path(sys.prefix) / "bin" / "sso-bridge"
XML = {
    "Authorization": "Basic " + base64.b64encode(f"{RUM_USER}:{RUM_PASSWORD}".encode()).decode(),
    "Content-Type": "text/xml",
}


def _environment(config: dict[str, Any], **extra: str) -> dict[str, str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SSO_BRIDGE_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    return {**inherited, **config_environment(config), **extra}


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [str(SCRIPT), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until_up(f"http://127.0.0.1:{port}/healthz", process)  # type: ignore[arg-type]
    return process


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.terminate()
    out, err = process.communicate(timeout=30)
    return out, err


def test_metrics_directories_the_bridge_made_are_removed_at_exit(
    sqlite_config: dict[str, Any], tmp_path: Path
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    port = free_port()
    process = _serve(_environment(sqlite_config, TMPDIR=str(temp)), port)
    requests.get(f"http://127.0.0.1:{port}/metrics", timeout=30)
    assert [p.name for p in temp.iterdir() if p.name.startswith("sso-bridge-metrics-")]
    _stop(process)
    assert process.returncode == 0
    assert not [p for p in temp.iterdir() if p.name.startswith("sso-bridge-metrics-")]


def test_an_operators_metrics_directory_is_kept(
    sqlite_config: dict[str, Any], tmp_path: Path
) -> None:
    given = tmp_path / "metrics"
    port = free_port()
    env = _environment(sqlite_config, PROMETHEUS_MULTIPROC_DIR=str(given))
    process = _serve(env, port)
    requests.get(f"http://127.0.0.1:{port}/metrics", timeout=30)
    _stop(process)
    assert given.is_dir()


def test_serve_warns_when_v1_has_no_api_keys(sqlite_config: dict[str, Any]) -> None:
    config = {k: v for k, v in sqlite_config.items() if k != "API_KEYS"}
    port = free_port()
    _, err = _stop(_serve(_environment(config), port))
    warnings = [line for line in err.splitlines() if "no /v1 API keys" in line]
    assert len(warnings) == 1 and "SSO_BRIDGE_API_KEYS" in warnings[0]


def test_serve_says_nothing_about_keys_when_there_are_some(sqlite_config: dict[str, Any]) -> None:
    _, err = _stop(_serve(_environment(sqlite_config), free_port()))
    assert "no /v1 API keys" not in err


def _healthcheck(bind: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSO_BRIDGE_")}
    return subprocess.run(
        [str(SCRIPT), "healthcheck"],
        env={**env, "SSO_BRIDGE_BIND": bind},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_healthcheck_follows_the_configured_bind(sqlite_config: dict[str, Any]) -> None:
    with Gunicorn(sqlite_config, workers=1) as bridge:
        assert _healthcheck(f"0.0.0.0:{bridge.port}").returncode == 0
        assert _healthcheck(f"127.0.0.1:{bridge.port}").returncode == 0
        refused = _healthcheck(f"0.0.0.0:{free_port()}")
        assert refused.returncode == 1 and "unhealthy" in refused.stderr


def test_redis_down_logs_one_warning_line_not_four_per_login(real_config: dict[str, Any]) -> None:
    with OwnRedis() as redis_server:
        config = {**real_config, "REDIS_URL": redis_server.url, "LOG_LEVEL": "INFO"}
        with Gunicorn(config, workers=1) as bridge, requests.Session() as http:
            redis_server.kill()
            for _ in range(5):
                answer = http.post(
                    bridge.url + "/rum",
                    data=dr_login_request("bcrypt@example.com", "bcrypt-pw-1"),
                    headers=XML,
                    timeout=30,
                )
                assert b"<successful>true</successful>" in answer.content
    lines = [line for line in bridge.output.splitlines() if "shared store unavailable" in line]
    assert len(lines) == 1, lines


def test_demo_refuses_a_busy_port_before_its_banner(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSO_BRIDGE_")}
        started = subprocess.run(
            [str(SCRIPT), "demo", "--bind", f"127.0.0.1:{port}", "--data-dir", str(tmp_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert started.returncode == 2, started.stderr
    assert "Merchant site" not in started.stdout and "Sample users" not in started.stdout
    ours = [line for line in started.stderr.splitlines() if line.startswith("sso-bridge: ")]
    assert len(ours) == 1
    assert str(port) in ours[0] and "--bind" in ours[0]


def test_no_gunicorn_control_socket_from_serve_or_the_config_file(
    sqlite_config: dict[str, Any], tmp_path: Path
) -> None:
    # gunicorn 26 would create $HOME/.gunicorn/gunicorn.ctl (or under XDG_RUNTIME_DIR): shared
    # by every instance on a host, and impossible in a read-only container.
    home = tmp_path / "home"
    home.mkdir()
    env = _environment(sqlite_config, HOME=str(home))
    env.pop("XDG_RUNTIME_DIR", None)
    port = free_port()
    served = _serve(env, port)
    created = list(home.rglob("*"))  # while it runs: gunicorn removes its socket at exit
    _stop(served)
    assert not created, created
    config_file = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "config" / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{(port := free_port())}",
            "sso_bridge:create_app()",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until_up(f"http://127.0.0.1:{port}/healthz", config_file)  # type: ignore[arg-type]
    created = list(home.rglob("*"))
    _stop(config_file)
    assert not created, created
