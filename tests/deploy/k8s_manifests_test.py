#!/usr/bin/env python3
"""Renders deploy/k8s (base and overlays/try) with `kubectl kustomize` and
checks every object against the Kubernetes API schemas, offline: the model
classes of Debian's python3-kubernetes (its OpenAPI types). Unknown fields,
wrong types and missing required fields fail, and so do references that do
not resolve (selectors, Secrets, claims, named ports).

  k8s_manifests_test.py REPO      exit 0 ok, 1 failures, 77 skipped

python3-kubernetes 22.6 has the 1.22 schemas; the gRPC probe (Kubernetes
1.24+) is checked against its own two fields here.
"""

import re
import shutil
import subprocess
import sys

try:
    import yaml
    import kubernetes.client as k8s
    from kubernetes.client import ApiClient
except ImportError as missing:  # pragma: no cover
    print(f"SKIP: {missing} (scripts/install-deps installs python3-kubernetes)")
    sys.exit(77)

# Secrets the operator creates (deploy/README.md says how); everything else
# must be rendered.
OPERATOR_SECRETS = {"expsvc-database", "expsvc-tokens"}
GRPC_ACTION = {"port": int, "service": str}

failures = []


def fail(where, message):
    failures.append(f"{where}: {message}")


def model_class(api_version, kind):
    version = api_version.split("/")[-1]
    return getattr(k8s, version[0].upper() + version[1:] + kind, None)


def check(value, type_name, where):
    """Walks `value` against an openapi type name of the python client."""
    if value is None:
        return
    if type_name == "object":
        return  # IntOrString, RawExtension: any
    if type_name == "str":
        if not isinstance(value, str):
            fail(where, f"expected a string, got {value!r}")
        return
    if type_name == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            fail(where, f"expected an integer, got {value!r}")
        return
    if type_name == "bool":
        if not isinstance(value, bool):
            fail(where, f"expected true or false, got {value!r}")
        return
    if type_name in ("float", "datetime", "date"):
        return
    list_of = re.fullmatch(r"list\[(.+)\]", type_name)
    if list_of:
        if not isinstance(value, list):
            fail(where, f"expected a list, got {value!r}")
            return
        for i, item in enumerate(value):
            check(item, list_of.group(1), f"{where}[{i}]")
        return
    dict_of = re.fullmatch(r"dict\(str, (.+)\)", type_name)
    if dict_of:
        if not isinstance(value, dict):
            fail(where, f"expected a map, got {value!r}")
            return
        for key, item in value.items():
            check(item, dict_of.group(1), f"{where}.{key}")
        return
    cls = getattr(k8s, type_name, None)
    if cls is None:
        fail(where, f"no schema for type {type_name}")
        return
    if not isinstance(value, dict):
        fail(where, f"expected an object ({type_name}), got {value!r}")
        return
    by_json = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    for key, item in value.items():
        if type_name == "V1Probe" and key == "grpc":
            check_grpc(item, f"{where}.grpc")
            continue
        if key not in by_json:
            fail(where, f"unknown field '{key}' for {type_name}")
            continue
        check(item, cls.openapi_types[by_json[key]], f"{where}.{key}")


def check_grpc(value, where):
    if not isinstance(value, dict) or "port" not in value:
        fail(where, "a gRPC probe needs a port")
        return
    for key, item in value.items():
        if key not in GRPC_ACTION:
            fail(where, f"unknown field '{key}' for a gRPC probe")
        elif not isinstance(item, GRPC_ACTION[key]):
            fail(where, f"'{key}' has the wrong type")


def required_fields(obj, cls_name, where):
    """The client's constructors refuse missing required fields."""
    stripped = strip_grpc(obj)
    try:
        ApiClient()._ApiClient__deserialize(stripped, cls_name)
    except (ValueError, TypeError) as error:
        fail(where, f"not a valid {cls_name}: {error}")


def strip_grpc(value):
    if isinstance(value, dict):
        return {k: strip_grpc(v) for k, v in value.items() if not (k == "grpc" and isinstance(v, dict) and "port" in v)}
    if isinstance(value, list):
        return [strip_grpc(v) for v in value]
    return value


def pod_templates(objects):
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            yield obj, obj["spec"]["template"]
        elif obj["kind"] == "Job":
            yield obj, obj["spec"]["template"]


def check_references(name, objects):
    secrets = {o["metadata"]["name"] for o in objects if o["kind"] == "Secret"} | OPERATOR_SECRETS
    claims = {o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"}
    templates = list(pod_templates(objects))
    for owner, template in templates:
        where = f"{name}: {owner['kind']}/{owner['metadata']['name']}"
        labels = template.get("metadata", {}).get("labels", {})
        selector = owner["spec"].get("selector", {}).get("matchLabels")
        if selector is not None and any(labels.get(k) != v for k, v in selector.items()):
            fail(where, f"selector {selector} does not match the pod labels {labels}")
        spec = template["spec"]
        for volume in spec.get("volumes", []):
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            if claim and claim not in claims:
                fail(where, f"volume '{volume['name']}' claims '{claim}', which is not rendered")
        volume_names = {v["name"] for v in spec.get("volumes", [])}
        volume_names |= {t["metadata"]["name"] for t in owner["spec"].get("volumeClaimTemplates", [])}
        for container in spec["containers"]:
            ports = {p.get("name") for p in container.get("ports", [])}
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] not in secrets:
                    fail(where, f"env {env['name']} reads Secret '{ref['name']}', which nobody creates")
            for mount in container.get("volumeMounts", []):
                if mount["name"] not in volume_names:
                    fail(where, f"mounts '{mount['name']}', which is not a volume")
            for probe_name in ("readinessProbe", "livenessProbe"):
                port = container.get(probe_name, {}).get("httpGet", {}).get("port")
                if isinstance(port, str) and port not in ports:
                    fail(where, f"{probe_name} uses port '{port}', which the container does not name")
    for service in (o for o in objects if o["kind"] == "Service"):
        selector = service["spec"].get("selector", {})
        matched = [t for _, t in templates if all(t["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())]
        if not matched:
            fail(f"{name}: Service/{service['metadata']['name']}", f"selects no pod ({selector})")
        for port in service["spec"]["ports"]:
            target = port.get("targetPort")
            if isinstance(target, str) and not any(
                target in {p.get("name") for c in t["spec"]["containers"] for p in c.get("ports", [])} for t in matched
            ):
                fail(f"{name}: Service/{service['metadata']['name']}", f"targetPort '{target}' is no pod's port")


def expect(name, objects):
    """What the deployment promises (deploy/k8s/README.md)."""
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    scheduler = by_name.get(("Deployment", "expsvc-scheduler"))
    worker = by_name.get(("Deployment", "expsvc-worker"))
    if scheduler is None or worker is None or ("Job", "expsvc-migrate") not in by_name:
        fail(name, "the scheduler, worker and migration Job must all be rendered")
        return
    if scheduler["spec"]["replicas"] != 2:
        fail(name, "the scheduler runs 2 replicas")
    container = scheduler["spec"]["template"]["spec"]["containers"][0]
    if "grpc" not in container.get("readinessProbe", {}) or "grpc" not in container.get("livenessProbe", {}):
        fail(name, "the scheduler's probes use the gRPC health service")
    limits = worker["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    if "nvidia.com/gpu" not in limits:
        fail(name, "workers request nvidia.com/gpu")
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "Job", "Service", "PersistentVolumeClaim", "Secret",
                           "NetworkPolicy") and obj["metadata"].get("namespace") != "expsvc":
            fail(name, f"{obj['kind']}/{obj['metadata']['name']} is not in namespace expsvc")


def self_check():
    """The checker must refuse a broken object, or its passing means nothing."""
    broken = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "broken"},
        "spec": {"replica": 2, "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}},
                              "spec": {"containers": [{"image": "x", "ports": [{"containerPort": "80"}]}]}}},
    }
    before = len(failures)
    check(broken, "V1Deployment", "self-check")
    required_fields(broken, "V1Deployment", "self-check")
    found = failures[before:]
    del failures[before:]
    wanted = ["unknown field 'replica'", "expected an integer", "name"]
    missing = [w for w in wanted if not any(w in f for f in found)]
    if missing:
        fail("self-check", f"a broken Deployment was not refused for {missing} (found: {found})")


def main():
    repo = sys.argv[1]
    self_check()
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        print("SKIP: no kubectl (scripts/install-deps installs Debian's kubernetes-client)")
        return 77
    for name in ("base", "overlays/try"):
        rendered = subprocess.run([kubectl, "kustomize", f"{repo}/deploy/k8s/{name}"], capture_output=True, text=True)
        if rendered.returncode != 0:
            fail(name, f"kubectl kustomize failed: {rendered.stderr.strip()}")
            continue
        objects = [o for o in yaml.safe_load_all(rendered.stdout) if o]
        for obj in objects:
            where = f"{name}: {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
            cls = model_class(obj.get("apiVersion", ""), obj.get("kind", ""))
            if cls is None:
                fail(where, f"no schema for {obj.get('apiVersion')} {obj.get('kind')}")
                continue
            check(obj, cls.__name__, where)
            required_fields(obj, cls.__name__, where)
        check_references(name, objects)
        expect(name, objects)
        print(f"{name}: {len(objects)} objects: " + ", ".join(sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects)))
    for failure in failures:
        print("FAIL", failure)
    print("ok" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
