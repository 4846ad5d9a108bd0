"""OS::Nova::Server: boot a server through Nova's API and wait until it is ACTIVE.

As in Heat, image and flavor may be names or IDs, `networks` entries name a network
(name or ID) or a port, user_data is passed base64-encoded as Nova wants it
(SOFTWARE_CONFIG is treated as RAW: localcloud has no software deployments), and a
server that goes to ERROR fails the resource with Nova's fault message.
"""

from __future__ import annotations

import base64
from typing import Any

from cloudhp_localcloud.orchestration import errors
from cloudhp_localcloud.orchestration.resources.base import Prop, Resource, is_not_found

# How long a delete may take before the resource is DELETE_FAILED.
DELETE_TIMEOUT = 300


class Server(Resource):
    type_name = "OS::Nova::Server"
    properties_schema = {  # noqa: RUF012 - read-only class schema
        "name": Prop("string"),
        "image": Prop("string"),
        "flavor": Prop("string", required=True),
        "key_name": Prop("string"),
        "networks": Prop("list"),
        "security_groups": Prop("list"),
        "user_data": Prop("string", default=""),
        "user_data_format": Prop(
            "string", default="HEAT_CFNTOOLS", allowed=("HEAT_CFNTOOLS", "RAW", "SOFTWARE_CONFIG")
        ),
        "metadata": Prop("map"),
        "config_drive": Prop("boolean"),
        "availability_zone": Prop("string"),
    }
    attributes = ("first_address", "networks", "name", "addresses", "accessIPv4", "console_urls")

    def create(self) -> None:
        conn = self.ctx.conn
        props = self.properties
        attrs: dict[str, Any] = {
            "name": props["name"] or self.ctx.physical_name(self.name),
            "flavor_id": conn.compute.find_flavor(props["flavor"], ignore_missing=False).id,
        }
        if props["image"]:
            attrs["image_id"] = conn.image.find_image(props["image"], ignore_missing=False).id
        if props["networks"]:
            attrs["networks"] = [self._network(conn, n) for n in props["networks"]]
        if props["security_groups"]:
            attrs["security_groups"] = [{"name": str(sg)} for sg in props["security_groups"]]
        for key in ("key_name", "metadata", "availability_zone", "config_drive"):
            if props[key] is not None:
                attrs[key] = props[key]
        if props["user_data"]:
            attrs["user_data"] = base64.b64encode(props["user_data"].encode()).decode()
        server = conn.compute.create_server(**attrs)
        self.physical_id = server.id
        while True:
            server = conn.compute.get_server(server.id)
            if server.status == "ACTIVE":
                return
            if server.status == "ERROR":
                fault = server.fault or {}
                raise errors.ResourceInError(
                    'Went to status ERROR due to "Message: {}, Code: {}"'.format(
                        fault.get("message", "Unknown"), fault.get("code", "Unknown")
                    )
                )
            self.ctx.wait(self.poll_interval)

    @staticmethod
    def _network(conn: Any, entry: Any) -> dict[str, str]:
        if not isinstance(entry, dict):
            raise errors.StackValidationFailed(f"networks entry must be a map, got {entry!r}")
        if entry.get("port"):
            return {"port": str(entry["port"])}
        network = entry.get("network") or entry.get("uuid")
        if not network:
            raise errors.StackValidationFailed(
                'One of the properties "network", "port" or "uuid" should be set for the '
                "specified network of server."
            )
        found = conn.network.find_network(str(network), ignore_missing=False)
        out = {"uuid": found.id}
        if entry.get("fixed_ip"):
            out["fixed_ip"] = str(entry["fixed_ip"])
        return out

    def delete(self) -> None:
        if not self.physical_id:
            return
        conn = self.ctx.conn
        try:
            conn.compute.delete_server(self.physical_id, ignore_missing=True)
        except Exception as exc:
            if not is_not_found(exc):
                raise
        waited = 0.0
        while waited < DELETE_TIMEOUT:
            server = conn.compute.find_server(self.physical_id, ignore_missing=True)
            if server is None:
                return
            if server.status == "ERROR" and server.task_state is None and waited > 5:
                raise errors.ResourceInError("Server went to ERROR while deleting")
            self.ctx.wait(self.poll_interval, cancellable=False)
            waited += self.poll_interval
        raise errors.ResourceFailure("Server was not deleted in time", kind="Timeout")

    def attribute(self, name: str) -> Any:
        server = self.ctx.conn.compute.get_server(self.physical_id)
        addresses = server.addresses or {}
        if name == "show":
            return server.to_dict(computed=False)
        if name == "name":
            return server.name
        if name == "addresses":
            return addresses
        if name == "accessIPv4":
            return server.access_ipv4 or ""
        if name == "console_urls":
            return {}
        if name == "networks":
            nets: dict[str, list[str]] = {}
            for net_name, entries in addresses.items():
                nets[net_name] = [e.get("addr") for e in entries]
            return nets
        # first_address: Heat's deprecated attribute, the first fixed address.
        for entries in addresses.values():
            for entry in entries:
                if entry.get("OS-EXT-IPS:type", "fixed") == "fixed":
                    return entry.get("addr", "")
        return ""
