"""deploy/k8s: kustomize (kubectl's embedded one) renders the base, every manifest is valid for
Kubernetes (kubernetes-validate, strict), and the objects fit together: names, selectors, ports,
probes, security, and no more consumers than partitions."""

from __future__ import annotations

import copy
import re
from functools import cache
from typing import Any

import pytest
import yaml
from kubernetes_validate import ValidationError, validate

from services.cli import build_parser
from tests.deploy.support import DEPLOY, output, run, settings_env_names, venv_tool

K8S = DEPLOY / "k8s"
# The oldest Kubernetes the manifests promise to work on, and the newest schema we have.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
SECRET_KEYS = {"SURGEWATCH_DATABASE_URL", "SURGEWATCH_OPERATOR_KEYS", "SURGEWATCH_PUBLISHER_KEYS"}
WORKERS = {"surgewatch-ingest": "ingest", "surgewatch-alerts": "alerts"}


@cache
def rendered() -> tuple[dict[str, Any], ...]:
    result = run([venv_tool("kubectl"), "kustomize", K8S])
    assert result.returncode == 0, output(result)
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def objects(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in rendered() if doc["kind"] == kind}


def example_secret() -> dict[str, Any]:
    secret: dict[str, Any] = yaml.safe_load((K8S / "secret.example.yaml").read_text())
    return secret


def config_map() -> dict[str, Any]:
    (cm,) = objects("ConfigMap").values()
    return cm


def pod_templates() -> dict[str, dict[str, Any]]:
    templates = {name: d["spec"]["template"] for name, d in objects("Deployment").items()}
    templates.update({name: job["spec"]["template"] for name, job in objects("Job").items()})
    return templates


def test_kustomize_renders_the_expected_objects() -> None:
    kinds = sorted((doc["kind"], doc["metadata"]["name"]) for doc in rendered())
    config_name = config_map()["metadata"]["name"]
    assert kinds == sorted(
        [
            ("Namespace", "surgewatch"),
            ("ServiceAccount", "surgewatch"),
            ("ConfigMap", config_name),
            ("Job", "surgewatch-migrate"),
            ("Deployment", "surgewatch-ingest"),
            ("Deployment", "surgewatch-alerts"),
            ("Deployment", "surgewatch-api"),
            ("Service", "surgewatch-api"),
            ("HorizontalPodAutoscaler", "surgewatch-api"),
            ("PodDisruptionBudget", "surgewatch-ingest"),
            ("PodDisruptionBudget", "surgewatch-alerts"),
            ("PodDisruptionBudget", "surgewatch-api"),
        ]
    )
    assert re.fullmatch(r"surgewatch-config-[a-z0-9]{10}", config_name)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_kubernetes_strict(version: str) -> None:
    for doc in (*rendered(), example_secret()):
        try:
            validate(doc, version, strict=True)
        except ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} (k8s {version}): {exc.message}")


def test_strict_validation_catches_a_misspelt_field() -> None:
    deployment = copy.deepcopy(objects("Deployment")["surgewatch-api"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(ValidationError):
        validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_everything_lives_in_the_namespace_with_common_labels() -> None:
    for doc in rendered():
        metadata = doc["metadata"]
        assert metadata["labels"]["app.kubernetes.io/part-of"] == "surgewatch", metadata["name"]
        if doc["kind"] != "Namespace":
            assert metadata["namespace"] == "surgewatch", metadata["name"]
    assert "Secret" not in {doc["kind"] for doc in rendered()}, "secrets are the operator's"


def test_containers_run_the_image_as_the_images_non_root_user() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    (uid, gid) = re.findall(r"^USER (\d+):(\d+)$", dockerfile, re.MULTILINE)[-1]
    for name, template in pod_templates().items():
        spec = template["spec"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert (pod["runAsUser"], pod["runAsGroup"]) == (int(uid), int(gid)), name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            assert re.fullmatch(r"surgewatch:[\w.-]+", container["image"]), name
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts, f"{name}: a read-only root needs a writable /tmp"
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), (name, kind)


def test_containers_run_real_surgewatch_commands() -> None:
    parser = build_parser()
    expected = {
        "surgewatch-ingest": ["ingest"],
        "surgewatch-alerts": ["alerts"],
        "surgewatch-api": ["api", "--host", "0.0.0.0", "--port", "8000"],
        "surgewatch-migrate": ["db", "upgrade"],
    }
    for name, template in pod_templates().items():
        (container,) = template["spec"]["containers"]
        assert container["args"] == expected[name]
        parser.parse_args(container["args"])
    assert objects("Job")["surgewatch-migrate"]["spec"]["template"]["spec"]["restartPolicy"] in {
        "Never",
        "OnFailure",
    }


def test_configuration_comes_from_the_configmap_and_the_operators_secret() -> None:
    cm_name = config_map()["metadata"]["name"]
    secret_name = example_secret()["metadata"]["name"]
    for name, template in pod_templates().items():
        (container,) = template["spec"]["containers"]
        refs = {
            key: source[key]["name"]
            for source in container["envFrom"]
            for key in ("configMapRef", "secretRef")
            if key in source
        }
        assert refs == {"configMapRef": cm_name, "secretRef": secret_name}, name


def test_settings_are_known_and_secrets_stay_out_of_the_configmap() -> None:
    known = settings_env_names()
    data = config_map()["data"]
    assert set(data) <= known, set(data) - known
    assert not set(data) & SECRET_KEYS
    assert not any(key.endswith(("_KEYS", "_PASSWORD")) for key in data)
    secret_keys = set(example_secret()["stringData"])
    assert SECRET_KEYS <= secret_keys <= known


def test_probes_hit_the_health_endpoints_on_declared_ports() -> None:
    for name, deployment in objects("Deployment").items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        readiness = "/readyz" if name == "surgewatch-api" else "/healthz"
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", readiness)):
            get = container[probe]["httpGet"]
            assert get["path"] == path, (name, probe)
            assert get["port"] in ports, (name, probe)


def test_metrics_are_annotated_for_scraping_on_the_right_port() -> None:
    for name, deployment in objects("Deployment").items():
        template = deployment["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        (container,) = template["spec"]["containers"]
        port = container["ports"][0]["containerPort"]
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/path"] == "/metrics", name
        assert annotations["prometheus.io/port"] == str(port), name
        if name in WORKERS:
            env = {e["name"]: e["value"] for e in container["env"]}
            assert env["SURGEWATCH_METRICS_PORT"] == str(port), name


def test_workers_never_outnumber_the_partitions() -> None:
    partitions = int(config_map()["data"]["SURGEWATCH_TOPIC_PARTITIONS"])
    deployments = objects("Deployment")
    for name in WORKERS:
        assert 1 <= deployments[name]["spec"]["replicas"] <= partitions, name
    assert "surgewatch-ingest" not in objects("HorizontalPodAutoscaler")
    assert "surgewatch-alerts" not in objects("HorizontalPodAutoscaler")


def test_api_is_served_and_autoscaled() -> None:
    deployment = objects("Deployment")["surgewatch-api"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert "replicas" not in deployment["spec"], "the HPA owns the api's replica count"
    service = objects("Service")["surgewatch-api"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert service["spec"]["ports"][0]["targetPort"] in {p["name"] for p in container["ports"]}
    hpa = objects("HorizontalPodAutoscaler")["surgewatch-api"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "surgewatch-api",
    }
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]


def test_every_deployment_has_a_matching_disruption_budget() -> None:
    budgets = objects("PodDisruptionBudget")
    for name, deployment in objects("Deployment").items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= pod_labels.items(), name
        assert budgets[name]["spec"]["selector"]["matchLabels"] == selector, name
        spec = budgets[name]["spec"]
        assert ("minAvailable" in spec) != ("maxUnavailable" in spec), name
