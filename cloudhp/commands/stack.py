"""The stack file `docker stack deploy -c - <project>` receives, as a pure function.

Docker's own compose loader does the deploying (its schema, validation and service
conversion); cloudhp's part is what it adds for this cluster:

- `endpoint_mode: dnsrr`: the nodes' kernel has no IPVS, so there is no virtual IP;
  HAProxy resolves `tasks.<project>_<service>` through Swarm DNS instead;
- health-gated, start-first rolling updates that roll back on failure (stop-first
  for a service with a named volume: two tasks never write one volume);
- labels the ingress and `cloudhp services` read back from the running service,
  including `cloudhp.spec`, a hash of the rest of the service's spec, so a rerun can
  tell which services changed without a diff of Docker's inspect output;
- every `$` doubled: `docker stack deploy` interpolates, and cloudhp passes values
  literally.

Output is deterministic (sorted mapping keys, lists in their meaningful order) and
compared exactly in tests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import yaml

from cloudhp.apps.model import Application, Service

VERSION = "3.8"
SPEC_LABEL = "cloudhp.spec"
UPDATE_CONFIG = {
    "order": "start-first",
    "failure_action": "rollback",
    "monitor": "10s",
    "parallelism": 1,
    "delay": "2s",
}
ROLLBACK_CONFIG = {"order": "start-first", "parallelism": 1}


def _has_named_volume(passthrough: Mapping[str, Any]) -> bool:
    return any(
        isinstance(m, dict) and m.get("type") == "volume" and m.get("source")
        for m in passthrough.get("volumes", ())
    )


def _labels(service: Service) -> dict[str, str]:
    labels = {
        "cloudhp.project": service.project,
        "cloudhp.service": service.name,
        "cloudhp.public-name": service.public_name,
    }
    if service.routed:
        labels["cloudhp.route"] = service.context_root
        labels["cloudhp.port"] = str(service.container_port)
        labels["cloudhp.health"] = service.health_path or service.context_root
        if service.hosts:
            labels["cloudhp.hosts"] = ",".join(service.hosts)
    return labels


def _deploy(service: Service, extra: Mapping[str, Any], stateful: bool) -> dict[str, Any]:
    deploy: dict[str, Any] = {k: v for k, v in extra.items()}
    order = {"order": "stop-first"} if stateful else {}
    deploy["update_config"] = {**UPDATE_CONFIG, **order, **extra.get("update_config", {})}
    deploy["rollback_config"] = {**ROLLBACK_CONFIG, **order, **extra.get("rollback_config", {})}
    deploy.setdefault("restart_policy", {"condition": "any"})
    deploy["endpoint_mode"] = "dnsrr"
    deploy["labels"] = {**extra.get("labels", {}), **_labels(service)}
    if extra.get("mode", "replicated") == "replicated":
        deploy["replicas"] = service.replicas
    resources = {part: dict(v) for part, v in extra.get("resources", {}).items()}
    if service.memory_limit_mb is not None:
        resources.setdefault("limits", {})["memory"] = f"{service.memory_limit_mb}M"
    if service.memory_reservation_mb is not None:
        resources.setdefault("reservations", {})["memory"] = f"{service.memory_reservation_mb}M"
    if resources:
        deploy["resources"] = resources
    return deploy


def _image(service: Service, images: Mapping[str, str]) -> str:
    image = images.get(service.name) or service.image
    if not image:
        raise ValueError(f"no image for service {service.name!r}: it must be built and pushed")
    return image


def _service(service: Service, image: str, ingress_network: str) -> dict[str, Any]:
    """The service's stack entry, without its spec label."""
    extra = dict(service.passthrough)
    deploy_extra = extra.pop("deploy", {})
    doc: dict[str, Any] = {"image": image, **extra}
    if service.environment:
        doc["environment"] = [f"{k}={v}" for k, v in service.environment]
    if service.command is not None:
        doc["command"] = list(service.command)
    if service.entrypoint is not None:
        doc["entrypoint"] = list(service.entrypoint)
    default: dict[str, Any] = {"aliases": sorted(service.aliases)} if service.aliases else {}
    doc["networks"] = {"default": default}
    if service.routed:
        doc["networks"][ingress_network] = {}
    if service.published_ports:
        doc["ports"] = [
            {"mode": "host", "protocol": p.protocol, "published": p.published, "target": p.target}
            for p in service.published_ports
        ]
    doc["deploy"] = _deploy(service, deploy_extra, _has_named_volume(extra))
    return doc


def _spec_hash(doc: Mapping[str, Any]) -> str:
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _escaped(value: Any) -> Any:
    """Doubles every `$` in values (not keys): docker stack deploy would interpolate it."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value


def _services(
    app: Application, images: Mapping[str, str], ingress_network: str
) -> dict[str, dict[str, Any]]:
    rendered: dict[str, dict[str, Any]] = {}
    for service in app.services:
        doc = _service(service, _image(service, images), ingress_network)
        doc["deploy"]["labels"][SPEC_LABEL] = _spec_hash(doc)
        rendered[service.name] = doc
    return rendered


def service_spec_hashes(
    app: Application, images: Mapping[str, str], ingress_network: str
) -> dict[str, str]:
    """Each service's `cloudhp.spec` label by its Swarm name, to compare with what runs."""
    docs = _services(app, images, ingress_network)
    return {s.swarm_name: docs[s.name]["deploy"]["labels"][SPEC_LABEL] for s in app.services}


def render_stack(app: Application, images: Mapping[str, str], ingress_network: str) -> str:
    """The stack file for `app`, running `images[name]` (else the service's own image).

    Raises:
        ValueError: If a service has neither (a built image the caller did not push).
    """
    services = _services(app, images, ingress_network)
    networks: dict[str, Any] = {"default": {"driver": "overlay"}}
    if any(s.routed for s in app.services):
        networks[ingress_network] = {"external": True}
    document: dict[str, Any] = {
        "version": VERSION,
        "services": _escaped(services),
        "networks": networks,
    }
    volumes = sorted(
        {
            m["source"]
            for s in app.services
            for m in dict(s.passthrough).get("volumes", ())
            if isinstance(m, dict) and m.get("type") == "volume" and m.get("source")
        }
    )
    if volumes:
        document["volumes"] = {name: {} for name in volumes}
    return yaml.safe_dump(document, sort_keys=True, default_flow_style=False, width=1 << 16)
