"""deploy/kubernetes/, checked without a cluster.

Every object is validated by real schema validators: the Kubernetes kinds by kubernetes-validate
(the Kubernetes OpenAPI schemas it bundles, strict: unknown fields are errors) for the oldest and
newest Kubernetes we support; ServiceMonitor and PrometheusRule by the pydantic models that
cloudcoil generates from the prometheus-operator CRD schemas (types, patterns such as durations),
plus a round trip that reports every field the models do not know. The rules inside the
PrometheusRule pass ``promtool check rules``. ``kubectl kustomize`` must build the directory.
Then the wiring: selectors, named ports, probes, Secrets, and the settings the service parses
from the Deployment's environment with every service-link variable Kubernetes injects.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version
from pydantic import BaseModel, ValidationError

from alerts import build
from sidecar.settings import load_settings, parse_listen
from sidecar.telemetry import slo

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
#: The oldest Kubernetes still supported upstream when this was written, and the newest bundled.
VERSIONS = ("1.31.0", latest_version())
Doc = dict[str, Any]


def load(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def kustomization() -> Doc:
    data: Doc = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return data


def resources() -> list[Doc]:
    return [d for name in kustomization()["resources"] for d in load(K8S / name)]


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    (found,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def unknown_fields(given: Any, known: Any, path: str = "") -> Iterator[str]:
    """Paths present in ``given`` but dropped by the model (a field it does not know)."""
    if isinstance(given, dict):
        for key, value in given.items():
            if not isinstance(known, dict) or key not in known:
                yield f"{path}.{key}".lstrip(".")
            else:
                yield from unknown_fields(value, known[key], f"{path}.{key}")
    elif isinstance(given, list) and isinstance(known, list):
        for i, (a, b) in enumerate(zip(given, known, strict=False)):
            yield from unknown_fields(a, b, f"{path}[{i}]")


def crd_model(kind: str) -> type[BaseModel]:
    from cloudcoil.models.prometheus_operator import v1

    model: type[BaseModel] = {"ServiceMonitor": v1.ServiceMonitor, "PrometheusRule": v1.PrometheusRule}[kind]
    return model


def schema_errors(doc: Doc) -> list[str]:
    where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    if str(doc.get("apiVersion", "")).startswith("monitoring.coreos.com/"):
        try:
            model = crd_model(doc["kind"]).model_validate(doc)
        except ValidationError as exc:
            return [f"{where}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        dumped = model.model_dump(by_alias=True, exclude_unset=True, mode="json")
        return [f"{where}: unknown field {p}" for p in unknown_fields(doc, dumped)]
    errors = []
    for version in VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{where} (Kubernetes {version}): {'.'.join(map(str, exc.path))}: {exc.message}")
    return errors


def test_every_manifest_passes_the_schemas() -> None:
    files = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert set(kustomization()["resources"]) == set(files) - {"secret.example.yaml"}, "every manifest is applied"
    docs = [d for name in files for d in load(K8S / name)]
    assert {d["kind"] for d in docs} == {
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "Secret",
        "ServiceMonitor",
        "PrometheusRule",
    }
    assert [e for d in docs for e in schema_errors(d)] == []


def test_the_validators_catch_mistakes() -> None:
    docs = resources()
    deployment = find(docs, "Deployment", "sidecar")
    broken: list[Doc] = []
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8787"
    typo = copy.deepcopy(deployment)
    typo["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    monitor = find(docs, "ServiceMonitor", "sidecar")
    bad_interval = copy.deepcopy(monitor)
    bad_interval["spec"]["endpoints"][0]["interval"] = "15 seconds"
    monitor_typo = copy.deepcopy(monitor)
    monitor_typo["spec"]["endpoints"][0]["prot"] = monitor_typo["spec"]["endpoints"][0].pop("port")
    rule = find(docs, "PrometheusRule", "sidecar")
    rule_typo = copy.deepcopy(rule)
    rule_typo["spec"]["groups"][0]["rules"][0]["expresion"] = "up"
    broken += [wrong_type, typo, bad_interval, monitor_typo, rule_typo]
    for doc in broken:
        assert schema_errors(doc), f"not caught: {doc['kind']}"
    assert any("livenessProbes" in e for e in schema_errors(typo))
    assert schema_errors(monitor_typo) == ["ServiceMonitor/sidecar: unknown field spec.endpoints[0].prot"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (its built-in kustomize) is not installed")
def test_kustomize_builds_the_directory() -> None:
    proc = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    built = [d for d in yaml.safe_load_all(proc.stdout) if d]
    names = {(d["kind"], d["metadata"]["name"]) for d in built}
    assert names == {(d["kind"], d["metadata"]["name"]) for d in resources()}
    assert all(d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "sidecar" for d in built)
    images = {c["image"] for d in built if d["kind"] == "Deployment" for c in pod_spec(d)["containers"]}
    assert images == {"sidecar:0.1.0"}
    assert [e for d in built for e in schema_errors(d)] == []


def pod_spec(deployment: Doc) -> Doc:
    spec: Doc = deployment["spec"]["template"]["spec"]
    return spec


def container(deployment: Doc) -> Doc:
    (only,) = pod_spec(deployment)["containers"]
    return dict(only)


def test_services_select_the_pods_and_their_named_ports() -> None:
    docs = resources()
    for deployment_name, service_name in (("sidecar", slo.SERVICE_JOB), ("sidecar-probe", slo.PROBE_JOB)):
        deployment = find(docs, "Deployment", deployment_name)
        service = find(docs, "Service", service_name)  # its name is the job label the rules select on
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert service["spec"]["selector"].items() <= labels.items()
        ports = {p["name"]: p["containerPort"] for p in container(deployment)["ports"]}
        for port in service["spec"]["ports"]:
            assert ports[port["targetPort"]] == port["port"], port
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if probe in container(deployment):
                assert container(deployment)[probe]["httpGet"]["port"] in ports
        # the ServiceMonitor picks this Service and finds its metrics port
        monitor = find(docs, "ServiceMonitor", "sidecar")
        (expression,) = monitor["spec"]["selector"]["matchExpressions"]
        assert service["metadata"]["labels"][expression["key"]] in expression["values"]
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= {p["name"] for p in service["spec"]["ports"]}
    budget = find(docs, "PodDisruptionBudget", "sidecar")
    assert budget["spec"]["selector"] == find(docs, "Deployment", "sidecar")["spec"]["selector"]


def test_probes_use_the_health_endpoints() -> None:
    server = container(find(resources(), "Deployment", "sidecar"))
    assert (server["livenessProbe"]["httpGet"]["path"], server["livenessProbe"]["httpGet"]["port"]) == (
        "/healthz",
        "admin",
    )
    assert (server["readinessProbe"]["httpGet"]["path"], server["readinessProbe"]["httpGet"]["port"]) == (
        "/readyz",
        "admin",
    )


def service_links(service: Doc, cluster_ip: str) -> dict[str, str]:
    """The variables the kubelet injects into every pod of the namespace for ``service``."""
    name = service["metadata"]["name"].upper().replace("-", "_")
    ports = service["spec"]["ports"]
    first = ports[0]
    env = {
        f"{name}_SERVICE_HOST": cluster_ip,
        f"{name}_SERVICE_PORT": str(first["port"]),
        f"{name}_PORT": f"{first.get('protocol', 'TCP').lower()}://{cluster_ip}:{first['port']}",
    }
    for port in ports:
        proto = port.get("protocol", "TCP")
        if "name" in port:
            env[f"{name}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}"] = str(port["port"])
        base = f"{name}_PORT_{port['port']}_{proto}"
        env[base] = f"{proto.lower()}://{cluster_ip}:{port['port']}"
        env[f"{base}_PROTO"] = proto.lower()
        env[f"{base}_PORT"] = str(port["port"])
        env[f"{base}_ADDR"] = cluster_ip
    return env


def container_env(deployment: Doc, secrets: list[Doc], pod_name: str) -> dict[str, str]:
    env = {}
    for item in container(deployment).get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "secretKeyRef" in item["valueFrom"]:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = find(secrets, "Secret", ref["name"])["stringData"][ref["key"]]
        else:
            assert item["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
            env[item["name"]] = pod_name
    return env


def test_the_service_parses_its_settings_with_every_injected_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = resources()
    secrets = load(K8S / "secret.example.yaml")
    deployment = find(docs, "Deployment", "sidecar")
    env = container_env(deployment, secrets, "sidecar-6f7d9c8b5-x2x7q")
    # enableServiceLinks is off, but a copy of these manifests with it on must start too
    for i, service in enumerate(d for d in docs if d["kind"] == "Service"):
        env.update(service_links(service, f"10.96.0.{10 + i}"))
    assert "SIDECAR_PORT" in env and "SIDECAR_PROBE_SERVICE_HOST" in env
    for key in [k for k in os.environ if k.startswith("SIDECAR_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    ports = {p["name"]: p["containerPort"] for p in container(deployment)["ports"]}
    assert settings.viewer_address.port == ports["viewer"]
    assert settings.admin_address.port == ports["admin"]
    assert settings.metrics_address is not None and settings.metrics_address.port == ports["metrics"]
    assert {settings.viewer_address.host, settings.admin_address.host, settings.metrics_address.host} == {"0.0.0.0"}
    assert not settings.is_sqlite and settings.redis_url and not settings.auto_migrate
    assert settings.slot == "sidecar-6f7d9c8b5-x2x7q"
    # The pod's colo label (copied onto every series as the target label colo) is SIDECAR_COLO.
    assert deployment["spec"]["template"]["metadata"]["labels"]["colo"] == settings.colo
    monitor = find(docs, "ServiceMonitor", "sidecar")
    assert monitor["spec"]["podTargetLabels"] == ["colo"]
    # The init container migrates the same store.
    (init,) = pod_spec(deployment)["initContainers"]
    assert init["args"] == ["migrate"] and init["env"] == [e for e in container(deployment)["env"] if
                                                          e["name"] == "SIDECAR_DATABASE_URL"]


def test_the_probe_reaches_the_service_and_reads_its_token() -> None:
    docs = resources()
    probe = find(docs, "Deployment", "sidecar-probe")
    args = container(probe)["args"]
    assert args[0] == "probe"

    def option(name: str) -> str:
        return str(args[args.index(name) + 1])

    service = {p["name"]: p["port"] for p in find(docs, "Service", slo.SERVICE_JOB)["spec"]["ports"]}
    admin = urlsplit(option("--admin-url"))
    assert (admin.hostname, admin.port) == (slo.SERVICE_JOB, service["admin"])
    target = urlsplit(option("--target").split("=", 1)[1])
    assert (target.hostname, target.port) == (slo.SERVICE_JOB, service["viewer"])
    listen = parse_listen(option("--listen"))
    assert {p["name"]: p["containerPort"] for p in container(probe)["ports"]}["metrics"] == listen.port
    token = Path(option("--token-file"))
    (mount,) = container(probe)["volumeMounts"]
    assert Path(mount["mountPath"]) == token.parent
    (volume,) = [v for v in pod_spec(probe)["volumes"] if v["name"] == mount["name"]]
    secret = find(load(K8S / "secret.example.yaml"), "Secret", volume["secret"]["secretName"])
    assert [i["path"] for i in volume["secret"]["items"]] == [token.name]
    assert {i["key"] for i in volume["secret"]["items"]} <= set(secret["stringData"])


def test_the_prometheus_rule_holds_the_rule_files_groups(tmp_path: Path) -> None:
    rule = find(resources(), "PrometheusRule", "sidecar")
    files = [yaml.safe_load(p.read_text()) for p in (build.RECORDING_FILE, build.ALERTING_FILE)]
    assert rule["spec"]["groups"] == [g for f in files for g in f["groups"]]
    assert build.PROMETHEUS_RULE_FILE == K8S / "prometheusrule.yaml" and build.stale() == []
    extracted = tmp_path / "groups.yml"
    extracted.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    proc = subprocess.run(["promtool", "check", "rules", str(extracted)], capture_output=True, text=True)
    assert proc.returncode == 0 and "SUCCESS" in proc.stdout, proc.stdout + proc.stderr
