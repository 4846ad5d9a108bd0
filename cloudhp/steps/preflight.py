"""Preflight: check everything `cloudhp init` needs from the cloud before creating anything.

A wrong flavor name found after five servers exist leaves a half-built cluster and a
bill; found here it is one clear message that names the thing and what exists instead.
Preflight only reads (lists and limits), so running it can never leave anything behind.

The decisions (which of several candidates, how to word it) are pure functions below
the I/O, and the quota arithmetic is `cloudhp.steps.quotas`, so both are unit-tested
without a cloud.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import openstack.exceptions as os_exc

from cloudhp.cloud.calls import cloud_call
from cloudhp.cloud.connect import authenticate
from cloudhp.context import ClusterContext, Resolved
from cloudhp.errors import EnvironmentProblem, NotFoundError, UsageError
from cloudhp.naming import is_cluster_volume
from cloudhp.steps.quotas import Quota, compute_needs, quota_error, shortages

T = TypeVar("T")

MAX_LISTED = 15
"""How many alternatives a hint names before it says "... and N more"."""


# --------------------------------------------------------------------------- pure logic


def format_choices(names: Iterable[str], limit: int = MAX_LISTED) -> str:
    """Names for a hint, sorted, de-duplicated and cut at `limit` so a hint stays readable."""
    unique = sorted(set(names))
    if not unique:
        return "(none)"
    shown = ", ".join(unique[:limit])
    rest = len(unique) - limit
    return shown + (f" ... and {rest} more" if rest > 0 else "")


def _label(item: Any) -> str:
    name = getattr(item, "name", None)
    return f"{name} ({item.id})" if name else str(item.id)


def choose(items: Sequence[T], wanted: str, kind: str) -> T | None:
    """The item whose id or name is `wanted`; None when there is none.

    An exact id wins over names, so a resource can always be named unambiguously by id
    even when another one's name happens to be that id.

    Raises:
        UsageError: When several items carry the name (OpenStack names are not unique);
            the hint lists their ids to choose from.
    """
    by_id = [i for i in items if getattr(i, "id", None) == wanted]
    if by_id:
        return by_id[0]
    by_name = [i for i in items if getattr(i, "name", None) == wanted]
    if len(by_name) > 1:
        ids = ", ".join(sorted(str(getattr(i, "id", "?")) for i in by_name))
        raise UsageError(
            f"{len(by_name)} {kind}s are named {wanted!r}",
            hint=f"give the id of the one to use instead of its name: {ids}",
        )
    return by_name[0] if by_name else None


def only_one(items: Sequence[T], kind: str, option: str) -> T:
    """The single candidate, for settings that default to "the only one there is".

    Raises:
        NotFoundError: When there is none.
        UsageError: When there are several; the hint lists them and the option to pick one.
    """
    if len(items) == 1:
        return items[0]
    if not items:
        raise NotFoundError(
            f"no {kind} is visible to this project",
            hint=f"create one, or name one with {option}",
        )
    raise UsageError(
        f"{len(items)} {kind}s are visible to this project, so cloudhp cannot choose",
        hint=f"name one with {option}: " + format_choices(_label(i) for i in items),
    )


def probe_target(cidr: str, gateway_ip: str | None) -> str:
    """An address inside the subnet to ask the kernel's routing table about.

    The gateway is the natural choice; a subnet without one (gateway_ip null) still has
    its first host address, which routes the same way.
    """
    if gateway_ip:
        return gateway_ip
    network = ipaddress.ip_network(cidr, strict=False)
    return str(network.network_address + 1)


# --------------------------------------------------------------------------- I/O helpers


def source_address_toward(target: str) -> str:
    """This machine's source address for packets to `target`, without sending any.

    connect() on a UDP socket only asks the kernel to pick a route and a source address;
    no packet leaves. This is the address the nodes see SSH coming from.

    Raises:
        EnvironmentProblem: When there is no route at all.
    """
    family = socket.AF_INET6 if ":" in target else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((target, 9))  # the discard port; nothing is sent
            return str(sock.getsockname()[0])
    except OSError as exc:
        raise EnvironmentProblem(
            f"this machine has no route to {target}, an address of the cluster's subnet: "
            f"{exc.strerror or exc}",
            hint="run cloudhp on a bastion inside the project's private network, or set "
            "the bastion address explicitly",
        ) from None


def _bastion_address(ctx: ClusterContext, cidr: str, gateway_ip: str | None) -> str:
    override = ctx.facts.get("bastion_address")
    if override is not None:
        try:
            return str(ipaddress.IPv4Address(str(override)))
        except ValueError:
            raise UsageError(
                f"bastion address {override!r} is not an IPv4 address",
                hint="give this machine's address as the nodes see it, e.g. 10.0.0.5",
            ) from None
    address = source_address_toward(probe_target(cidr, gateway_ip))
    if ipaddress.ip_address(address) not in ipaddress.ip_network(cidr, strict=False):
        ctx.reporter.step(
            f"this machine's address toward {cidr} is {address}, outside that subnet; "
            "SSH will be allowed from it"
        )
    return address


def _find_flavor(conn: Any, wanted: str) -> Any:
    with cloud_call("listing flavors"):
        flavors = list(conn.compute.flavors(details=True))
    flavor = choose(flavors, wanted, "flavor")
    if flavor is None:
        raise NotFoundError(
            f"flavor {wanted!r} not found",
            hint="flavors of this project: "
            + format_choices(f"{f.name} ({f.vcpus} vCPU, {f.ram} MiB)" for f in flavors),
        )
    return flavor


def _find_image(conn: Any, wanted: str) -> Any:
    with cloud_call("listing images"):
        images = list(conn.image.images())
        image = choose(images, wanted, "image")
        if image is None:
            # Community images are not in the default listing but can be used by id.
            try:
                image = conn.image.get_image(wanted)
            except (os_exc.NotFoundException, os_exc.BadRequestException):
                image = None
    if image is None:
        raise NotFoundError(
            f"image {wanted!r} not found",
            hint="active images: "
            + format_choices(i.name or i.id for i in images if i.status == "active"),
        )
    if image.status != "active":
        raise UsageError(
            f"image {_label(image)} is {image.status}, not active",
            hint="wait until its upload finishes, or use another image: "
            + format_choices(i.name or i.id for i in images if i.status == "active"),
        )
    return image


def _find_private_network(networks: Sequence[Any], wanted: str | None) -> Any:
    internal = [n for n in networks if not n.is_router_external]
    if wanted is None:
        return only_one(internal, "private (non-external) network", "--network")
    network = choose(networks, wanted, "network")
    if network is None:
        raise NotFoundError(
            f"network {wanted!r} not found",
            hint="private networks of this project: " + format_choices(_label(n) for n in internal),
        )
    if network.is_router_external:
        raise UsageError(
            f"network {_label(network)} is an external network; the nodes need a private one",
            hint="private networks of this project: " + format_choices(_label(n) for n in internal),
        )
    return network


def _find_external_network(networks: Sequence[Any], wanted: str | None) -> Any:
    external = [n for n in networks if n.is_router_external]
    if wanted is None:
        return only_one(external, "external network (router:external)", "--external-network")
    network = choose(networks, wanted, "network")
    if network is None:
        raise NotFoundError(
            f"external network {wanted!r} not found",
            hint="external networks: " + format_choices(_label(n) for n in external),
        )
    if not network.is_router_external:
        raise UsageError(
            f"network {_label(network)} is not an external network (router:external is false), "
            "so it cannot give floating IPs",
            hint="external networks: " + format_choices(_label(n) for n in external),
        )
    return network


def _ipv4_subnet(conn: Any, network: Any) -> Any:
    with cloud_call(f"listing the subnets of network {network.name}"):
        subnets = [s for s in conn.network.subnets(network_id=network.id) if s.ip_version == 4]
    if not subnets:
        raise NotFoundError(
            f"network {_label(network)} has no IPv4 subnet",
            hint="add an IPv4 subnet to it, or choose another network with --network",
        )
    # Neutron allocates a port's first address from the first subnet it lists.
    return subnets[0]


def _count(items: Iterable[Any], keep: Callable[[Any], bool] = lambda _: True) -> int:
    return sum(1 for i in items if keep(i))


def _compute_quotas(conn: Any) -> dict[str, Quota]:
    with cloud_call("reading the compute limits"):
        absolute = conn.compute.get_limits().absolute
    return {
        "instances": Quota(absolute.instances, absolute.instances_used or 0),
        "cores": Quota(absolute.total_cores, absolute.total_cores_used or 0),
        "RAM": Quota(absolute.total_ram, absolute.total_ram_used or 0),
    }


def _floating_ip_quota(conn: Any, project_id: str) -> Quota | None:
    with cloud_call("reading the floating IP quota"):
        limit = conn.network.get_quota(project_id).floating_ips
        if limit is None:
            return None
        used = _count(conn.network.ips(project_id=project_id))
    return Quota(int(limit), used)


def _volume_quotas(conn: Any) -> dict[str, Quota]:
    with cloud_call("reading the block storage limits"):
        absolute = conn.block_storage.get_limits().absolute
    return {
        "volumes": Quota(absolute.max_total_volumes, absolute.total_volumes_used or 0),
        "volume gigabytes": Quota(
            absolute.max_total_volume_gigabytes, absolute.total_gigabytes_used or 0
        ),
    }


# --------------------------------------------------------------------------- the step


def preflight(
    ctx: ClusterContext,
    extra_servers: int = 0,
    volumes_needed: int = 0,
    volume_gb_needed: int = 0,
) -> Resolved:
    """Checks credentials, names and quotas against the cloud; creates nothing.

    Resources the cluster already has (found by its tag) are not counted again, so a
    rerun of a complete cluster passes even when the project's quota is now full.

    Args:
        ctx: The cluster context; `ctx.facts["bastion_address"]` overrides the
            address SSH is allowed from.
        extra_servers: Servers created besides the nodes (1 while the golden image
            does not exist yet: its builder server).
        volumes_needed: Cinder volumes the cluster will create in total.
        volume_gb_needed: Their total size in GiB.

    Returns:
        The ids behind the spec's names, and this machine's address toward the nodes.

    Raises:
        UsageError: Bad credentials, an ambiguous name, an image that is not active.
        NotFoundError: An unknown flavor, image or network (the hint lists what exists).
        QuotaTooSmall: One error listing every quota that is too small.
        EnvironmentProblem: The cloud or the private subnet cannot be reached.
    """
    conn, spec, report = ctx.conn, ctx.spec, ctx.reporter.step
    authenticate(conn)
    project_id = str(conn.current_project_id)

    flavor = _find_flavor(conn, spec.flavor)
    report(f"flavor {flavor.name}: {flavor.vcpus} vCPU, {flavor.ram} MiB RAM")
    image = _find_image(conn, spec.image)
    report(f"image {image.name or image.id} is active")

    with cloud_call("listing networks"):
        networks = list(conn.network.networks())
    network = _find_private_network(networks, spec.network)
    subnet = _ipv4_subnet(conn, network)
    report(f"network {network.name}, subnet {subnet.cidr}")
    external = _find_external_network(networks, spec.external_network)
    report(f"external network {external.name}")

    with cloud_call("listing the cluster's servers"):
        existing_servers = _count(conn.compute.servers(tags=ctx.tag))
    needs = compute_needs(
        spec.node_count + extra_servers - existing_servers, flavor.vcpus, flavor.ram
    )
    quotas = _compute_quotas(conn)
    fip_quota = _floating_ip_quota(conn, project_id)
    if fip_quota is not None:
        with cloud_call("listing the cluster's floating IPs"):
            existing_fips = _count(conn.network.ips(tags=ctx.tag, project_id=project_id))
        needs["floating IPs"] = max(0, spec.ingress_nodes - existing_fips)
        quotas["floating IPs"] = fip_quota
    if volumes_needed > 0 or volume_gb_needed > 0:
        with cloud_call("listing the cluster's volumes"):
            ours = [
                v for v in conn.block_storage.volumes() if is_cluster_volume(v.metadata, spec.name)
            ]
        needs["volumes"] = max(0, volumes_needed - len(ours))
        needs["volume gigabytes"] = max(0, volume_gb_needed - sum(v.size or 0 for v in ours))
        quotas.update(_volume_quotas(conn))
    short = shortages(needs, quotas)
    if short:
        raise quota_error(short)
    report("quotas suffice: " + ", ".join(f"{k} {v}" for k, v in needs.items() if v))

    bastion = _bastion_address(ctx, subnet.cidr, subnet.gateway_ip)
    report(f"SSH will be allowed from {bastion}")
    return Resolved(
        flavor_id=flavor.id,
        flavor_vcpus=int(flavor.vcpus),
        flavor_ram_mb=int(flavor.ram),
        image_id=image.id,
        network_id=network.id,
        network_name=network.name,
        subnet_id=subnet.id,
        subnet_cidr=subnet.cidr,
        external_network_id=external.id,
        external_network_name=external.name,
        bastion_address=bastion,
    )
