"""Two ordinary projects, made through Keystone's admin API, cannot reach each other's
resources, and a reader lists and shows its project's but changes nothing: for every
resource type the local cloud serves.

p1 has a member (m1) and a reader (r1), p2 a member (m2). m1 makes one of each
resource in p1 through the API (Docker stood in for: bridges are not made and
servers not booted); the stack, whose create needs the engine and a credential over
HTTP, is put in the store. Then m2 gets what OpenStack answers for another project's
resource (404 on show, update and delete, absent from its lists; Cinder and Heat,
which carry the project in their URL, refuse p1's URL), and r1 gets 403 in the
service's own fault style for every create, update and delete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import docker.errors
import pytest

from cloudhp_localcloud import faults
from cloudhp_localcloud.compute import lifecycle
from cloudhp_localcloud.network import bridges
from cloudhp_localcloud.orchestration.records import STACK

from .conftest import Api
from .keystone_people import V3, Person, cheap_hashes, headers, make_person, make_project

NOVA, NEUTRON, GLANCE = "/compute/v2.1", "/networking/v2.0", "/image/v2"
CINDER, HEAT = "/volume/v3/{project}", "/heat-api/v1/{project}"
IMAGE_PATCH = "application/openstack-images-v2.1-json-patch"
TEMPLATE = {"heat_template_version": "2018-08-31", "resources": {}}

MESSAGE: dict[str, Callable[[dict[str, Any]], str]] = {
    faults.NOVA: lambda body: body["forbidden"]["message"],
    faults.CINDER: lambda body: body["forbidden"]["message"],
    faults.NEUTRON: lambda body: body["NeutronError"]["message"],
    faults.GLANCE: lambda body: body["message"],
    faults.HEAT: lambda body: body["error"]["message"],
}


class _NoNetworks:
    @staticmethod
    def get(name: str) -> None:
        raise docker.errors.NotFound(name)


class NoEngine:
    """Stands for the Docker engine: it has no networks, and makes none (see below)."""

    networks = _NoNetworks()


@dataclass(frozen=True)
class Kind:
    """One resource type: where it lives, how m1 made p1's, how it is changed."""

    style: str
    collection: str  # "{project}" is the URL's project, where the service has one
    key: str  # of the list body
    create: dict[str, Any]
    update: tuple[str, Any] | None  # method and body; None where the API has none
    member: str = "{collection}/{id}"

    def url(self, project: str) -> str:
        return self.collection.format(project=project)


@dataclass
class World:
    p1: str
    p2: str
    m1: dict[str, str]
    r1: dict[str, str]
    m2: dict[str, str]
    kinds: dict[str, Kind]
    ids: dict[str, str]  # kind -> p1's resource

    def member(self, kind: str, project: str) -> str:
        k = self.kinds[kind]
        return k.member.format(collection=k.url(project), id=self.ids[kind], name=f"{kind}-1")


@pytest.fixture(scope="module", autouse=True)
def _no_docker() -> Iterator[None]:
    with cheap_hashes(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(bridges, "ensure_bridge", lambda *args, **kwargs: None)
        patch.setattr(lifecycle, "submit", lambda *args, **kwargs: None)  # no boot
        bridges.set_docker_client(NoEngine())  # type: ignore[arg-type]
        try:
            yield
        finally:
            bridges.set_docker_client(None)


def _made(api: Api, m1: dict[str, str], url: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = api.client.post(url, json=body, headers=m1)
    assert resp.status_code in (200, 201, 202), resp.get_json()
    body: dict[str, Any] = resp.get_json()
    return body if "id" in body else dict(next(iter(body.values())))  # Glance: unwrapped


def _one(api: Api, headers: dict[str, str], url: str, key: str) -> dict[str, Any]:
    (found,) = api.client.get(url, headers=headers).get_json()[key]
    return dict(found)


@pytest.fixture(scope="module")
def world(api: Api) -> World:
    p1, p2 = make_project(api, "p1"), make_project(api, "p2")
    m1 = headers(api, make_person(api, "m1", p1, "member"))
    r1 = headers(api, make_person(api, "r1", p1, "reader"))
    m2 = headers(api, make_person(api, "m2", p2, "member"))
    kinds: dict[str, Kind] = {}
    ids: dict[str, str] = {}

    def make(name: str, kind: Kind) -> None:
        kinds[name] = kind
        ids[name] = _made(api, m1, kind.url(p1), kind.create)["id"]

    def neutron(collection: str, member: str, body: dict[str, Any], update: bool = True) -> Kind:
        key = collection.replace("-", "_")
        change = ("PUT", {member: {"description": "changed"}}) if update else None
        return Kind(faults.NEUTRON, f"{NEUTRON}/{collection}", key, {member: body}, change)

    make("network", neutron("networks", "network", {"name": "n1"}))
    net = ids["network"]
    subnet = {"network_id": net, "cidr": "10.9.0.0/24", "ip_version": 4, "name": "s1"}
    make("subnet", neutron("subnets", "subnet", subnet))
    make("port", neutron("ports", "port", {"network_id": net, "name": "pt1"}))
    make("security_group", neutron("security-groups", "security_group", {"name": "sg1"}))
    rule = {"security_group_id": ids["security_group"], "direction": "ingress"}
    rule.update(protocol="tcp", port_range_min=22, port_range_max=22)
    make("security_group_rule", neutron("security-group-rules", "security_group_rule", rule, False))
    public = _one(api, m1, f"{NEUTRON}/networks?name=public", "networks")["id"]
    make("floatingip", neutron("floatingips", "floatingip", {"floating_network_id": public}))
    make("router", neutron("routers", "router", {"name": "rt1"}))

    image = _one(api, m1, f"{GLANCE}/images?name=debian-12", "images")["id"]
    flavor = api.client.get(f"{NOVA}/flavors", headers=m1).get_json()["flavors"][0]["id"]
    server = {"name": "vm1", "imageRef": image, "flavorRef": flavor, "networks": "none"}
    rename = ("PUT", {"server": {"name": "renamed"}})
    make("server", Kind(faults.NOVA, f"{NOVA}/servers", "servers", {"server": server}, rename))
    image_body = {"name": "img1", "disk_format": "raw", "container_format": "bare"}
    patch = ("PATCH", [{"op": "replace", "path": "/name", "value": "renamed"}])
    make("image", Kind(faults.GLANCE, f"{GLANCE}/images", "images", image_body, patch))
    volume = {"volume": {"size": 1, "name": "v1"}}
    rename = ("PUT", {"volume": {"name": "renamed"}})
    make("volume", Kind(faults.CINDER, f"{CINDER}/volumes", "volumes", volume, rename))

    doc = {"template": TEMPLATE, "action": "CREATE", "status": "COMPLETE", "outputs": []}
    ids["stack"] = api.store().insert(STACK, doc, project_id=p1, name="stack-1")["id"]
    create = {"stack_name": "stack-2", "template": TEMPLATE}
    member = "{collection}/{name}/{id}"
    kinds["stack"] = Kind(faults.HEAT, f"{HEAT}/stacks", "stacks", create, None, member)
    return World(p1, p2, m1, r1, m2, kinds, ids)


KINDS = [
    "network",
    "subnet",
    "port",
    "security_group",
    "security_group_rule",
    "floatingip",
    "router",
    "server",
    "image",
    "volume",
    "stack",
]


def _send(api: Api, method: str, url: str, body: Any, who: dict[str, str]) -> Any:
    if method == "PATCH":  # Glance's only update
        return api.client.patch(url, json=body, headers={**who, "Content-Type": IMAGE_PATCH})
    return api.client.open(url, method=method, json=body, headers=who)


def _listed_ids(api: Api, world: World, kind: str, who: dict[str, str], project: str) -> set[str]:
    k = world.kinds[kind]
    resp = api.client.get(k.url(project), headers=who)
    assert resp.status_code == 200, resp.get_json()
    return {r["id"] for r in resp.get_json()[k.key]}


@pytest.mark.parametrize("kind", KINDS)
def test_another_projects_member_neither_lists_shows_changes_nor_deletes(
    api: Api, world: World, kind: str
) -> None:
    k, p1, p2, m2 = world.kinds[kind], world.p1, world.p2, world.m2
    assert world.ids[kind] not in _listed_ids(api, world, kind, m2, p2)
    assert api.client.get(world.member(kind, p2), headers=m2).status_code == 404
    if k.update is not None:
        method, body = k.update
        assert _send(api, method, world.member(kind, p2), body, m2).status_code == 404
    assert api.client.delete(world.member(kind, p2), headers=m2).status_code == 404
    if "{project}" in k.collection:  # Cinder: 400 "Malformed request url"; Heat: 403
        refused = 400 if k.style == faults.CINDER else 403
        assert api.client.get(k.url(p1), headers=m2).status_code == refused
        assert api.client.get(world.member(kind, p1), headers=m2).status_code == refused
        assert api.client.delete(world.member(kind, p1), headers=m2).status_code == refused
    assert api.client.get(world.member(kind, p1), headers=world.m1).status_code == 200


def _forbidden(resp: Any, style: str) -> None:
    assert resp.status_code == 403, resp.get_json()
    message = MESSAGE[style](resp.get_json())
    assert "needs the member role on the project" in message and ": reader." in message


@pytest.mark.parametrize("kind", KINDS)
def test_a_reader_lists_and_shows_but_cannot_create_change_or_delete(
    api: Api, world: World, kind: str
) -> None:
    k, p1, r1 = world.kinds[kind], world.p1, world.r1
    assert world.ids[kind] in _listed_ids(api, world, kind, r1, p1)
    assert api.client.get(world.member(kind, p1), headers=r1).status_code == 200
    _forbidden(api.client.post(k.url(p1), json=k.create, headers=r1), k.style)
    if k.update is not None:
        method, body = k.update
        _forbidden(_send(api, method, world.member(kind, p1), body, r1), k.style)
    _forbidden(api.client.delete(world.member(kind, p1), headers=r1), k.style)
    assert world.ids[kind] in _listed_ids(api, world, kind, world.m1, p1)


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in ("security_group_rule", "stack")])
def test_the_member_changes_what_the_others_could_not(api: Api, world: World, kind: str) -> None:
    """The same update requests succeed for p1's member: the 404s and 403s above are
    about who asks, not about the request."""
    update = world.kinds[kind].update
    assert update is not None
    resp = _send(api, update[0], world.member(kind, world.p1), update[1], world.m1)
    assert resp.status_code == 200, resp.get_json()


def test_keypairs_belong_to_their_user(api: Api, world: World) -> None:
    """Nova keypairs are the user's, not the project's: m2 and r1 see only their own,
    and the reader may not make one."""
    keypairs = f"{NOVA}/os-keypairs"
    made = _made(api, world.m1, keypairs, {"keypair": {"name": "k1"}})
    assert made["name"] == "k1"
    for other in (world.m2, world.r1):
        resp = api.client.get(keypairs, headers=other)
        assert resp.status_code == 200 and resp.get_json()["keypairs"] == []
        assert api.client.get(f"{keypairs}/k1", headers=other).status_code == 404
    assert api.client.delete(f"{keypairs}/k1", headers=world.m2).status_code == 404
    _forbidden(
        api.client.post(keypairs, json={"keypair": {"name": "k2"}}, headers=world.r1), "nova"
    )
    _forbidden(api.client.delete(f"{keypairs}/k1", headers=world.r1), "nova")
    assert api.client.get(f"{keypairs}/k1", headers=world.m1).status_code == 200


def test_a_token_without_a_default_role_reads_nothing(api: Api, world: World) -> None:
    admin = api.headers("admin")
    role = api.client.post(f"{V3}/roles", json={"role": {"name": "observer"}}, headers=admin)
    assert role.status_code == 201
    outsider: Person = make_person(api, "o1", world.p1, "observer")
    resp = api.client.get(f"{NOVA}/servers", headers=headers(api, outsider))
    assert resp.status_code == 403
    message = resp.get_json()["forbidden"]["message"]
    assert "needs the reader role" in message and message.endswith(": observer.")


def test_admin_of_another_project_still_sees_p1s_servers(api: Api, world: World) -> None:
    """The gate reads roles, not projects: admin keeps Nova's all_tenants view."""
    resp = api.client.get(f"{NOVA}/servers?all_tenants=1", headers=api.headers("admin"))
    assert world.ids["server"] in {s["id"] for s in resp.get_json()["servers"]}
