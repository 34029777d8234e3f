"""`make deploy-check`: every manifest in deploy/ as Kubernetes reads it, and as the service needs it.

    check.py [--kubernetes VERSION]... MANIFEST...

Each resource is validated with kubernetes-validate against Kubernetes' own schemas for each
VERSION, strictly: a field the schema does not know is an error, as `kubectl apply` makes it, and
so is a kind or apiVersion that has no schema (kubernetes-validate itself only warns and passes).
Then the rules no schema knows, for every container named airbyte-wrapper and what fronts it:

- terminationGracePeriodSeconds is more than its preStop sleep plus SHUTDOWN_GRACE_SECS, so that
  in-flight requests finish before SIGKILL;
- it runs as uid 65532, non-root, read-only, without privilege escalation, capabilities or an
  unconfined seccomp profile, probed by HTTP (/readyz, /healthz), with no exec hook or probe (the
  image has no shell);
- several replicas (an autoscaler, or replicas above 1) come with an Ingress that hashes by
  Idempotency-Key, since each replica remembers its keys alone;
- an Ingress in front waits longer for an answer than one discovery takes, takes the bodies the
  service takes, and never re-sends a POST to another replica.

Settings a container does not set take their defaults from the README's configuration table.
Exits 1 when anything is wrong, naming the file, the resource and what was expected.
"""

import argparse
import re
import sys
from pathlib import Path

import yaml
from kubernetes_validate import (
    InvalidSchemaError,
    SchemaNotFoundError,
    ValidationError,
    validate,
)

NEEDED = ("SHUTDOWN_GRACE_SECS", "AIRBYTE_DISCOVER_TIMEOUT_SECS", "MAX_BODY_BYTES")
README = Path(__file__).resolve().parents[2] / "README.md"
WRAPPER = "airbyte-wrapper"
NGINX = "nginx.ingress.kubernetes.io/"
POD_TEMPLATES = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class StrictLoader(yaml.SafeLoader):
    """YAML that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(k, deep=deep) for k, _ in node.value]
        for key in keys:
            if keys.count(key) > 1:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice", node.start_mark
                )
        return super().construct_mapping(node, deep)


def defaults():
    """`VARIABLE` -> default, from the rows of the README's configuration table."""
    rows = re.findall(r"^\| `([A-Z_]+)` \| `([^`]*)` \|", README.read_text(), re.MULTILINE)
    return dict(rows)


def nginx_bytes(size):
    """An nginx size (`1m`, `512k`, `1048576`) in bytes."""
    match = re.fullmatch(r"(\d+)([kKmMgG]?)", size)
    if not match:
        raise ValueError(f"{size!r} is not an nginx size")
    return int(match[1]) * 1024 ** " kmg".index(match[2].lower() or " ")


def name(resource):
    return f"{resource.get('kind', '?')}/{resource.get('metadata', {}).get('name', '?')}"


def schema_errors(resource, versions):
    for version in versions:
        try:
            validate(resource, version, strict=True)
        except ValidationError as e:
            path = ".".join(str(p) for p in e.path) or "(top level)"
            yield f"Kubernetes {version}: {path}: {e.message}"
        except (SchemaNotFoundError, InvalidSchemaError) as e:
            yield f"Kubernetes {version}: {e.message}"


def wrapper_errors(pod, container, env):
    """What one airbyte-wrapper container and its pod must hold."""
    sleep = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    grace = int(env["SHUTDOWN_GRACE_SECS"])
    termination = pod.get("terminationGracePeriodSeconds", 30)  # Kubernetes' default
    if termination <= sleep + grace:
        yield (
            f"terminationGracePeriodSeconds is {termination}: it must be more than the preStop "
            f"sleep ({sleep}) plus SHUTDOWN_GRACE_SECS ({grace})"
        )
    security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    wanted = {
        "runAsUser": 65532,
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
    }
    for field, value in wanted.items():
        if security.get(field) != value:
            yield f"securityContext.{field} is {security.get(field)!r}, expected {value!r}"
    if "ALL" not in security.get("capabilities", {}).get("drop", []):
        yield "securityContext.capabilities.drop must hold ALL"
    if security.get("seccompProfile", {}).get("type") not in ("RuntimeDefault", "Localhost"):
        yield "securityContext.seccompProfile.type must be RuntimeDefault (or Localhost)"
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        got = container.get(probe, {}).get("httpGet", {}).get("path")
        if got != path:
            yield f"{probe} must be an httpGet of {path}, not {got!r}"
    handlers = [container.get(p, {}) for p in ("readinessProbe", "livenessProbe", "startupProbe")]
    handlers += [h for h in container.get("lifecycle", {}).values() if isinstance(h, dict)]
    if any("exec" in handler for handler in handlers):
        yield "an exec probe or hook cannot run: the image has no shell (use httpGet, or sleep)"


def ingress_errors(ingress, env):
    """What an Ingress in front of the service must hold, beside what its canary inherits."""
    notes = ingress.get("metadata", {}).get("annotations", {})
    if notes.get(NGINX + "canary") == "true":
        return  # ingress-nginx takes a canary's proxy settings from the main Ingress
    discovery = int(env["AIRBYTE_DISCOVER_TIMEOUT_SECS"])
    read = int(notes.get(NGINX + "proxy-read-timeout", "60"))  # ingress-nginx's default
    if read <= discovery:
        yield (
            f"proxy-read-timeout is {read}: nginx would answer 504 while a discovery runs; it "
            f"must be more than AIRBYTE_DISCOVER_TIMEOUT_SECS ({discovery})"
        )
    body, most = notes.get(NGINX + "proxy-body-size", "1m"), int(env["MAX_BODY_BYTES"])
    if nginx_bytes(body) < most:
        yield f"proxy-body-size {body} refuses bodies that MAX_BODY_BYTES ({most}) accepts"
    if "non_idempotent" in notes.get(NGINX + "proxy-next-upstream", ""):
        yield "proxy-next-upstream must not hold non_idempotent: a re-sent POST creates twice"


def file_errors(path, versions, table):
    try:
        resources = [r for r in yaml.load_all(path.read_text(), Loader=StrictLoader) if r]
    except yaml.YAMLError as e:
        yield f"not valid YAML: {e}"
        return
    for resource in resources:
        for error in schema_errors(resource, versions):
            yield f"{name(resource)}: {error}"
    try:
        yield from rule_errors(resources, table)
    except (AttributeError, KeyError, TypeError, ValueError) as e:  # a shape no schema allows
        yield f"cannot check the service's rules: {e!r}"


def rule_errors(resources, table):
    # The airbyte-wrapper containers first, then what fronts them, wherever each stands.
    envs, several, hashed = [], False, False
    for resource in resources:
        kind, spec = resource.get("kind"), resource.get("spec", {})
        several |= kind == "HorizontalPodAutoscaler"
        if kind not in POD_TEMPLATES:
            continue
        pod = spec.get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            if container.get("name") != WRAPPER:
                continue
            env = table | {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
            envs.append(env)
            several |= spec.get("replicas", 1) > 1
            for error in wrapper_errors(pod, container, env):
                yield f"{name(resource)}: container {WRAPPER}: {error}"
    if not envs:
        yield f"no container named {WRAPPER}"
    for resource in resources:
        if resource.get("kind") != "Ingress":
            continue
        notes = resource.get("metadata", {}).get("annotations", {})
        hashed |= notes.get(NGINX + "upstream-hash-by") == "$http_idempotency_key"
        for env in envs:
            for error in ingress_errors(resource, env):
                yield f"{name(resource)}: {error}"
    if several and not hashed:
        yield (
            'several replicas but no Ingress with upstream-hash-by: "$http_idempotency_key": '
            "a retry would reach a replica that does not know its key"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubernetes", action="append", required=True, metavar="VERSION")
    parser.add_argument("manifests", nargs="+", type=Path)
    args = parser.parse_args()
    table = defaults()
    missing = [variable for variable in NEEDED if variable not in table]
    if missing:
        sys.exit(f"error: {README} lists no default for {', '.join(missing)}")

    failed = 0
    for path in args.manifests:
        errors = list(file_errors(path, args.kubernetes, table))
        for error in errors:
            print(f"error: {path}: {error}")
        if errors:
            failed += 1
        else:
            versions = ", ".join(args.kubernetes)
            print(f"ok: {path}: valid for Kubernetes {versions}; the service's rules hold")
    print(f"{len(args.manifests) - failed} manifests passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
