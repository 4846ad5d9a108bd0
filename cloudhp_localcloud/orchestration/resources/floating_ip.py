"""OS::Neutron::FloatingIP: an address on an external network, optionally on a port."""

from __future__ import annotations

from typing import Any

from cloudhp_localcloud.orchestration.resources.base import Prop, Resource, is_not_found


class FloatingIP(Resource):
    type_name = "OS::Neutron::FloatingIP"
    properties_schema = {  # noqa: RUF012 - read-only class schema
        "floating_network": Prop("string", required=True),
        "port_id": Prop("string"),
        "fixed_ip_address": Prop("string"),
        "floating_ip_address": Prop("string"),
        "value_specs": Prop("map"),
    }
    attributes = ("floating_ip_address", "fixed_ip_address", "port_id", "floating_network_id")

    def create(self) -> None:
        net = self.ctx.conn.network
        props = self.properties
        attrs: dict[str, Any] = {
            "floating_network_id": net.find_network(
                props["floating_network"], ignore_missing=False
            ).id
        }
        for key in ("port_id", "fixed_ip_address", "floating_ip_address"):
            if props[key]:
                attrs[key] = props[key]
        attrs.update(props["value_specs"] or {})
        self.physical_id = net.create_ip(**attrs).id

    def delete(self) -> None:
        if not self.physical_id:
            return
        try:
            self.ctx.conn.network.delete_ip(self.physical_id, ignore_missing=True)
        except Exception as exc:
            if not is_not_found(exc):
                raise

    def attribute(self, name: str) -> Any:
        ip = self.ctx.conn.network.get_ip(self.physical_id)
        if name == "show":
            return ip.to_dict(computed=False)
        return getattr(ip, name)
