"""OS::Neutron::Port: a port on a network (name or ID), with fixed IPs and groups."""

from __future__ import annotations

from typing import Any

from cloudhp_localcloud.orchestration.resources.base import Prop, Resource, is_not_found


class Port(Resource):
    type_name = "OS::Neutron::Port"
    properties_schema = {  # noqa: RUF012 - read-only class schema
        "network": Prop("string", required=True),
        "name": Prop("string"),
        "fixed_ips": Prop("list"),
        "security_groups": Prop("list"),
        "admin_state_up": Prop("boolean", default=True),
        "mac_address": Prop("string"),
        "port_security_enabled": Prop("boolean"),
        "device_owner": Prop("string"),
    }
    attributes = (
        "fixed_ips",
        "mac_address",
        "network_id",
        "name",
        "status",
        "security_groups",
        "device_id",
    )

    def create(self) -> None:
        net = self.ctx.conn.network
        props = self.properties
        attrs: dict[str, Any] = {
            "network_id": net.find_network(props["network"], ignore_missing=False).id,
            "name": props["name"] or self.ctx.physical_name(self.name),
            "admin_state_up": props["admin_state_up"],
        }
        if props["fixed_ips"]:
            fixed = []
            for entry in props["fixed_ips"]:
                item: dict[str, Any] = {}
                if entry.get("subnet") or entry.get("subnet_id"):
                    subnet = entry.get("subnet") or entry.get("subnet_id")
                    item["subnet_id"] = net.find_subnet(subnet, ignore_missing=False).id
                if entry.get("ip_address"):
                    item["ip_address"] = entry["ip_address"]
                fixed.append(item)
            attrs["fixed_ips"] = fixed
        if props["security_groups"] is not None:
            attrs["security_group_ids"] = [
                net.find_security_group(str(sg), ignore_missing=False).id
                for sg in props["security_groups"]
            ]
        for key in ("mac_address", "port_security_enabled", "device_owner"):
            if props[key] is not None:
                attrs[key] = props[key]
        self.physical_id = net.create_port(**attrs).id

    def delete(self) -> None:
        if not self.physical_id:
            return
        try:
            self.ctx.conn.network.delete_port(self.physical_id, ignore_missing=True)
        except Exception as exc:
            if not is_not_found(exc):
                raise

    def attribute(self, name: str) -> Any:
        port = self.ctx.conn.network.get_port(self.physical_id)
        if name == "show":
            return port.to_dict(computed=False)
        if name == "security_groups":
            return port.security_group_ids
        return getattr(port, name)
