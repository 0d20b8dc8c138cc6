"""The deployment kit (Dockerfile, deploy/) stays true to the code.

Statically, always: every file parses, every SSO_BRIDGE_* name it sets is a real setting, every
probe path is a route of the app, the image's health check follows the bind, and the final image
stage builds nothing (so no root-owned build artefacts). With a Docker engine, also: the image
builds and the Compose stack answers a LoginRequest. The project's test machines have no Docker
engine (the `docker` client at most): that test then says so with a warning and a printed line
instead of failing, because an absent engine is the known environment there, not a broken one.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from sso_bridge import create_app

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
YAML_FILES = sorted(DEPLOY.rglob("*.yaml"))
NAME = re.compile(r"\bSSO_BRIDGE_[A-Z0-9_]+")


def real_setting_names() -> set[str]:
    """Every SSO_BRIDGE_* name the bridge reads: the keys of the shipped example configuration
    (which the suite keeps complete) joined with "__" as the environment spells them, plus the
    server settings config/gunicorn.conf.py reads. One function to point elsewhere when the
    settings move (e.g. to the pydantic-settings model's fields)."""
    example = tomllib.loads((ROOT / "config" / "sso-bridge.example.toml").read_text())
    commented = re.findall(
        r"^#\s*([a-z_]+)\s*=", (ROOT / "config" / "sso-bridge.example.toml").read_text(), re.M
    )
    names = {"SSO_BRIDGE_CONFIG"}

    def walk(table: dict[str, Any], prefix: str) -> None:
        for key, value in table.items():
            name = f"{prefix}{key.upper()}"
            if isinstance(value, dict) and key in {"directory", "rum_password_encryption"}:
                walk(value, name + "__")
            names.add(name)

    walk(example, "SSO_BRIDGE_")
    names |= {f"SSO_BRIDGE_{key.upper()}" for key in commented}
    names |= set(NAME.findall((ROOT / "config" / "gunicorn.conf.py").read_text()))
    return names


def _documents() -> list[tuple[Path, Any]]:
    return [(path, doc) for path in YAML_FILES for doc in yaml.safe_load_all(path.read_text())]


def test_the_kit_is_there() -> None:
    names = {path.relative_to(DEPLOY).as_posix() for path in YAML_FILES}
    assert "compose.yaml" in names
    kinds = {doc["kind"] for path, doc in _documents() if "kubernetes" in path.parts}
    assert {"Deployment", "Service", "Job", "Secret", "PodDisruptionBudget"} <= kinds
    assert (DEPLOY / "nginx" / "sso-bridge.conf").is_file()


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_every_file_parses(path: Path) -> None:
    assert all(doc for doc in yaml.safe_load_all(path.read_text()))


def test_every_setting_named_is_a_real_one() -> None:
    real = real_setting_names()
    assert "SSO_BRIDGE_DIRECTORY__URL" in real and "SSO_BRIDGE_RUM_USERS" in real
    for path in [*YAML_FILES, ROOT / "Dockerfile"]:
        unknown = set(NAME.findall(path.read_text())) - real
        assert not unknown, (path.name, sorted(unknown))


def _containers(doc: Any) -> list[dict[str, Any]]:
    spec = doc.get("spec", {})
    pod = spec.get("template", {}).get("spec", {})
    return [*pod.get("containers", []), *pod.get("initContainers", [])]


def test_probe_paths_are_routes_of_the_app(sqlite_config: dict[str, Any]) -> None:
    routes = {rule.rule for rule in create_app(sqlite_config).url_map.iter_rules()}
    probes = [
        container[probe]["httpGet"]["path"]
        for _, doc in _documents()
        for container in _containers(doc)
        for probe in ("livenessProbe", "readinessProbe")
        if probe in container
    ]
    assert "/healthz" in probes and "/readyz" in probes
    assert set(probes) <= routes


def test_the_bridge_containers_are_probed_and_the_upgrade_runs_once() -> None:
    for path, doc in _documents():
        for container in _containers(doc):
            if "sso-bridge" in container.get("image", "") and doc["kind"] == "Deployment":
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", path
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", path
    jobs = [doc for _, doc in _documents() if doc.get("kind") == "Job"]
    assert [c["command"] for job in jobs for c in _containers(job)] == [
        ["sso-bridge", "db", "upgrade"]
    ]
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert compose["db-upgrade"]["command"] == ["sso-bridge", "db", "upgrade"]
    assert compose["bridge"]["depends_on"]["db-upgrade"] == {
        "condition": "service_completed_successfully"
    }
    assert {"postgres", "redis", "nginx", "dr-simulator", "bridge"} <= set(compose)


def _stages(dockerfile: str) -> list[list[str]]:
    lines = re.sub(r"\\\n", " ", dockerfile).splitlines()
    stages: list[list[str]] = []
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(stripped)
    return stages


def test_dockerfile_final_stage_builds_nothing_and_runs_unprivileged() -> None:
    stages = _stages((ROOT / "Dockerfile").read_text())
    assert len(stages) >= 2, "a build stage and a final stage"
    final = stages[-1]
    runs = [line for line in final if line.startswith("RUN ")]
    assert not [line for line in runs if re.search(r"pip install|setup\.py|\bbuild\b", line)]
    assert any(line.startswith("COPY --from=") for line in final)
    user = [line for line in final if line.startswith("USER ")]
    assert user and user[-1].split()[1] not in {"root", "0"}
    cmd = next(index for index, line in enumerate(final) if line.startswith("CMD "))
    assert final.index(user[-1]) < cmd
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"build", "*.egg-info", ".venv", "tests"} <= set(ignored)


def test_dockerfile_health_check_follows_the_bind() -> None:
    stages = _stages((ROOT / "Dockerfile").read_text())
    check = [line for line in stages[-1] if line.startswith("HEALTHCHECK")]
    assert len(check) == 1
    assert "sso-bridge" in check[0] and "healthcheck" in check[0]
    assert not re.search(r":\d{2,5}\b", check[0]), "no port written into the health check"


def test_image_builds_and_the_compose_stack_signs_in() -> None:
    docker = shutil.which("docker")
    engine = docker is not None and (
        subprocess.run([docker, "info"], capture_output=True, timeout=60, check=False).returncode
        == 0
    )
    if not engine:
        message = "no Docker engine: image build and Compose stack not checked"
        print(message)
        warnings.warn(message, stacklevel=1)
        return
    assert docker is not None
    build = subprocess.run(
        [docker, "build", "-t", "sso-bridge:test", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    _compose_signs_in(docker)


def _compose_signs_in(docker: str) -> None:
    import base64
    import time

    import requests

    from sso_bridge.rum.samples import dr_login_request

    certs = DEPLOY / "nginx" / "certs"
    certs.mkdir(exist_ok=True)
    if not (certs / "server.crt").exists():
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=localhost",
                "-keyout",
                str(certs / "server.key"),
                "-out",
                str(certs / "server.crt"),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
    compose = [docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "-p", "sso-bridge-test"]
    try:
        subprocess.run([*compose, "up", "-d", "--build", "--wait"], check=True, timeout=1800)
        auth = base64.b64encode(b"dr:change-me-rum").decode()
        answer = None
        for _ in range(60):
            try:
                answer = requests.post(
                    "https://localhost:8443/rum",
                    data=dr_login_request("demo@example.com", "123123"),
                    headers={"Authorization": f"Basic {auth}", "Content-Type": "text/xml"},
                    verify=str(certs / "server.crt"),
                    timeout=10,
                )
                break
            except requests.RequestException:
                time.sleep(2)
        assert answer is not None and b"<successful>true</successful>" in answer.content
    finally:
        subprocess.run([*compose, "down", "-v"], timeout=600, check=False)
