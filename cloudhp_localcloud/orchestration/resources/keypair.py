"""OS::Nova::KeyPair: a Nova keypair, imported or generated (private key kept if asked).

The physical id is the keypair's name, as in Heat; the generated private key is kept
encrypted in the stack's server-side data and shown only through the `private_key`
attribute when save_private_key is true.
"""

from __future__ import annotations

from typing import Any

from cloudhp_localcloud.orchestration.resources.base import Prop, Resource, is_not_found


class KeyPair(Resource):
    type_name = "OS::Nova::KeyPair"
    properties_schema = {  # noqa: RUF012 - read-only class schema
        "name": Prop("string", required=True),
        "public_key": Prop("string"),
        "save_private_key": Prop("boolean", default=False),
        "type": Prop("string", allowed=("ssh", "x509")),
        "user": Prop("string"),
    }
    attributes = ("public_key", "private_key", "name")

    def create(self) -> None:
        attrs: dict[str, Any] = {"name": self.properties["name"]}
        if self.properties["public_key"]:
            attrs["public_key"] = self.properties["public_key"]
        if self.properties["type"]:
            attrs["type"] = self.properties["type"]
        keypair = self.ctx.conn.compute.create_keypair(**attrs)
        self.physical_id = keypair.name
        if self.properties["save_private_key"] and keypair.private_key:
            self.data["private_key"] = self.ctx.encrypt(keypair.private_key)

    def delete(self) -> None:
        if not self.physical_id:
            return
        try:
            self.ctx.conn.compute.delete_keypair(self.physical_id, ignore_missing=True)
        except Exception as exc:
            if not is_not_found(exc):
                raise

    def attribute(self, name: str) -> Any:
        if name == "private_key":
            token = self.data.get("private_key")
            return self.ctx.decrypt(token) if token else ""
        keypair = self.ctx.conn.compute.get_keypair(self.physical_id)
        if name == "show":
            return keypair.to_dict(computed=False)
        if name == "public_key":
            return keypair.public_key
        return keypair.name
