"""OS::Cinder::Volume: a volume through Cinder's API, waited for until available."""

from __future__ import annotations

from typing import Any

from cloudhp_localcloud.orchestration import errors
from cloudhp_localcloud.orchestration.resources.base import Prop, Resource, is_not_found

DELETE_TIMEOUT = 300


class Volume(Resource):
    type_name = "OS::Cinder::Volume"
    properties_schema = {  # noqa: RUF012 - read-only class schema
        "size": Prop("integer"),
        "name": Prop("string"),
        "description": Prop("string"),
        "image": Prop("string"),
        "volume_type": Prop("string"),
        "metadata": Prop("map"),
        "availability_zone": Prop("string"),
    }
    attributes = (
        "size",
        "status",
        "display_name",
        "display_description",
        "volume_type",
        "metadata",
        "attachments",
        "bootable",
        "availability_zone",
        "created_at",
    )

    def create(self) -> None:
        conn = self.ctx.conn
        props = self.properties
        if props["size"] is None and not props["image"]:
            raise errors.StackValidationFailed("One of the properties size or image is required")
        attrs: dict[str, Any] = {"name": props["name"] or self.ctx.physical_name(self.name)}
        for key in ("size", "description", "volume_type", "metadata", "availability_zone"):
            if props[key] is not None:
                attrs[key] = props[key]
        if props["image"]:
            attrs["image_id"] = conn.image.find_image(props["image"], ignore_missing=False).id
        volume = conn.block_storage.create_volume(**attrs)
        self.physical_id = volume.id
        while True:
            volume = conn.block_storage.get_volume(volume.id)
            if volume.status == "available":
                return
            if volume.status in ("error", "error_restoring"):
                raise errors.ResourceInError(f'Went to status {volume.status} due to "Unknown"')
            self.ctx.wait(self.poll_interval)

    def delete(self) -> None:
        if not self.physical_id:
            return
        storage = self.ctx.conn.block_storage
        try:
            storage.delete_volume(self.physical_id, ignore_missing=True)
        except Exception as exc:
            if not is_not_found(exc):
                raise
        waited = 0.0
        while waited < DELETE_TIMEOUT:
            volume = storage.find_volume(self.physical_id, ignore_missing=True)
            if volume is None:
                return
            if volume.status == "error_deleting":
                raise errors.ResourceInError("Volume went to status error_deleting")
            self.ctx.wait(self.poll_interval, cancellable=False)
            waited += self.poll_interval
        raise errors.ResourceFailure("Volume was not deleted in time", kind="Timeout")

    def attribute(self, name: str) -> Any:
        volume = self.ctx.conn.block_storage.get_volume(self.physical_id)
        if name == "show":
            return volume.to_dict(computed=False)
        mapping = {
            "display_name": "name",
            "display_description": "description",
            "bootable": "is_bootable",
        }
        return getattr(volume, mapping.get(name, name))
