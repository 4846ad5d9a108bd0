"""OS::Cinder::VolumeAttachment: attach through Nova's os-volume_attachments, as Heat does.

The physical id is the attachment's id (the volume id, in Nova's API); the resource is
complete when Cinder reports the volume in-use, and deleted when it is available
again.
"""

from __future__ import annotations

from typing import Any

from cloudhp_localcloud.orchestration import errors
from cloudhp_localcloud.orchestration.resources.base import Prop, Resource, is_not_found

DETACH_TIMEOUT = 300


class VolumeAttachment(Resource):
    type_name = "OS::Cinder::VolumeAttachment"
    properties_schema = {  # noqa: RUF012 - read-only class schema
        "instance_uuid": Prop("string", required=True),
        "volume_id": Prop("string", required=True),
        "mountpoint": Prop("string"),
    }
    attributes = ()

    def create(self) -> None:
        conn = self.ctx.conn
        props = self.properties
        attrs: dict[str, Any] = {"volume_id": props["volume_id"]}
        if props["mountpoint"]:
            attrs["device"] = props["mountpoint"]
        attachment = conn.compute.create_volume_attachment(props["instance_uuid"], **attrs)
        self.physical_id = attachment.id or props["volume_id"]
        while True:
            volume = conn.block_storage.get_volume(props["volume_id"])
            if volume.status == "in-use":
                return
            if volume.status in ("error", "error_attaching"):
                raise errors.ResourceInError(f"Volume went to status {volume.status}")
            self.ctx.wait(self.poll_interval)

    def delete(self) -> None:
        if not self.physical_id:
            return
        conn = self.ctx.conn
        props = self.properties
        try:
            conn.compute.delete_volume_attachment(
                props["instance_uuid"], props["volume_id"], ignore_missing=True
            )
        except Exception as exc:
            if not is_not_found(exc):
                raise
        waited = 0.0
        while waited < DETACH_TIMEOUT:
            volume = conn.block_storage.find_volume(props["volume_id"], ignore_missing=True)
            if volume is None or volume.status in ("available", "error"):
                return
            self.ctx.wait(self.poll_interval, cancellable=False)
            waited += self.poll_interval
        raise errors.ResourceFailure("Volume was not detached in time", kind="Timeout")

    def attribute(self, name: str) -> Any:
        attachment = self.ctx.conn.compute.get_volume_attachment(
            self.properties["instance_uuid"], self.properties["volume_id"]
        )
        return attachment.to_dict(computed=False)
