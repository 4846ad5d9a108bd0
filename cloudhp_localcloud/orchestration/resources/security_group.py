"""OS::Neutron::SecurityGroup: a group and its rules, through Neutron's API.

As Heat does, when `rules` holds egress rules the default "allow all egress" rules
Neutron adds are removed first, so the template says exactly what leaves; a rule with
remote_mode remote_group_id and no remote_group_id refers to the group itself.
"""

from __future__ import annotations

from typing import Any

from cloudhp_localcloud.orchestration import errors
from cloudhp_localcloud.orchestration.resources.base import Prop, Resource, is_not_found

RULE_KEYS = frozenset(
    {
        "direction",
        "ethertype",
        "port_range_min",
        "port_range_max",
        "protocol",
        "remote_mode",
        "remote_ip_prefix",
        "remote_group_id",
        "description",
    }
)


class SecurityGroup(Resource):
    type_name = "OS::Neutron::SecurityGroup"
    properties_schema = {  # noqa: RUF012 - read-only class schema
        "name": Prop("string"),
        "description": Prop("string", default=""),
        "rules": Prop("list", default=[]),
    }
    attributes = ()

    def create(self) -> None:
        net = self.ctx.conn.network
        group = net.create_security_group(
            name=self.properties["name"] or self.ctx.physical_name(self.name),
            description=self.properties["description"] or "",
        )
        self.physical_id = group.id
        rules = self.properties["rules"] or []
        for rule in rules:
            if not isinstance(rule, dict) or set(rule) - RULE_KEYS:
                raise errors.StackValidationFailed(f"Property error: rules: invalid rule {rule!r}")
        if any(r.get("direction", "ingress") == "egress" for r in rules):
            for existing in net.security_group_rules(security_group_id=group.id):
                if existing.direction == "egress":
                    net.delete_security_group_rule(existing.id, ignore_missing=True)
        for rule in rules:
            net.create_security_group_rule(**self._rule(rule, group.id))

    @staticmethod
    def _rule(rule: dict[str, Any], group_id: str) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "security_group_id": group_id,
            "direction": rule.get("direction", "ingress"),
            "ethertype": rule.get("ethertype", "IPv4"),
        }
        for key in ("port_range_min", "port_range_max"):
            if rule.get(key) is not None:
                attrs[key] = int(rule[key])
        if rule.get("protocol") is not None:
            attrs["protocol"] = str(rule["protocol"])
        if rule.get("description"):
            attrs["description"] = rule["description"]
        if rule.get("remote_mode", "remote_ip_prefix") == "remote_group_id":
            attrs["remote_group_id"] = rule.get("remote_group_id") or group_id
        elif rule.get("remote_ip_prefix"):
            attrs["remote_ip_prefix"] = rule["remote_ip_prefix"]
        return attrs

    def delete(self) -> None:
        if not self.physical_id:
            return
        try:
            self.ctx.conn.network.delete_security_group(self.physical_id, ignore_missing=True)
        except Exception as exc:
            if not is_not_found(exc):
                raise

    def attribute(self, name: str) -> Any:
        return self.ctx.conn.network.get_security_group(self.physical_id).to_dict(computed=False)
