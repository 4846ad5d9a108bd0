"""The access rules of the cluster's application credential, exactly, from endpoints."""

from __future__ import annotations

from cloudhp.steps.access_rules import (
    Endpoint,
    access_rules,
    catalog_types,
    same_rules,
    supports_access_rules,
)

PROJECT = "5f7a"
USER = "u42"
ENDPOINTS = {
    "compute": Endpoint("/compute/v2.1", ("compute",)),
    "network": Endpoint("/networking/v2.0", ("network",)),
    "block-storage": Endpoint(f"/volume/v3/{PROJECT}", ("block-storage", "volumev3")),
    "image": Endpoint("/image/v2", ("image",)),
    "orchestration": Endpoint(f"/heat-api/v1/{PROJECT}", ("orchestration",)),
    "identity": Endpoint("/identity/v3", ("identity",)),
}


def rule(service: str, method: str, path: str) -> dict[str, str]:
    return {"service": service, "method": method, "path": path}


def volume_rules(service: str) -> list[dict[str, str]]:
    return [
        rule(service, "GET", f"/volume/v3/{PROJECT}/volumes"),
        rule(service, "GET", f"/volume/v3/{PROJECT}/volumes/*"),
        rule(service, "DELETE", f"/volume/v3/{PROJECT}/volumes/*"),
        rule(service, "POST", f"/volume/v3/{PROJECT}/volumes/*/metadata"),
    ]


def test_the_rules_are_exactly_the_unattended_commands_calls() -> None:
    assert access_rules(ENDPOINTS, USER) == [
        rule("compute", "GET", "/compute/v2.1/servers/*"),
        rule("compute", "GET", "/compute/v2.1/servers/*/tags"),
        rule("compute", "DELETE", "/compute/v2.1/servers/*"),
        rule("compute", "POST", "/compute/v2.1/servers/*/action"),
        rule("compute", "POST", "/compute/v2.1/servers/*/os-volume_attachments"),
        rule("compute", "DELETE", "/compute/v2.1/servers/*/os-volume_attachments/*"),
        rule("compute", "GET", "/compute/v2.1/os-keypairs/*"),
        rule("compute", "DELETE", "/compute/v2.1/os-keypairs/*"),
        rule("network", "GET", "/networking/v2.0/floatingips"),
        rule("network", "DELETE", "/networking/v2.0/floatingips/*"),
        rule("network", "GET", "/networking/v2.0/ports"),
        rule("network", "DELETE", "/networking/v2.0/ports/*"),
        rule("network", "GET", "/networking/v2.0/security-groups"),
        rule("network", "DELETE", "/networking/v2.0/security-groups/*"),
        *volume_rules("block-storage"),
        *volume_rules("volumev3"),
        rule("orchestration", "GET", f"/heat-api/v1/{PROJECT}/stacks"),
        rule("orchestration", "DELETE", f"/heat-api/v1/{PROJECT}/stacks/*"),
        rule("orchestration", "DELETE", f"/heat-api/v1/{PROJECT}/stacks/*/*"),
        rule("image", "GET", "/image/v2/images"),
        rule("image", "DELETE", "/image/v2/images/*"),
        rule("image", "PUT", "/image/v2/images/*/tags/*"),
        rule("image", "DELETE", "/image/v2/images/*/tags/*"),
        rule("identity", "GET", f"/identity/v3/users/{USER}/application_credentials"),
        rule("identity", "DELETE", f"/identity/v3/users/{USER}/application_credentials/*"),
    ]


def test_a_cloud_at_its_root_and_without_cinder_or_heat() -> None:
    endpoints = {
        "compute": Endpoint("/v2.1", ("compute",)),
        "identity": Endpoint("/v3", ("identity",)),
    }
    assert access_rules(endpoints, USER)[0] == rule("compute", "GET", "/v2.1/servers/*")
    assert {r["service"] for r in access_rules(endpoints, USER)} == {"compute", "identity"}
    assert access_rules(endpoints, USER)[-1] == rule(
        "identity", "DELETE", f"/v3/users/{USER}/application_credentials/*"
    )


def test_a_service_goes_by_every_type_the_catalog_lists_it_under() -> None:
    listed = ["compute", "volumev3", "block-storage", "volumev2", "image"]
    assert catalog_types("block-storage", listed) == ("block-storage", "volumev3", "volumev2")
    assert catalog_types("block-storage", ["volume"]) == ("volume",)
    assert catalog_types("network", listed) == ()


def test_access_rules_came_with_identity_v3_13() -> None:
    assert supports_access_rules((3, 13))
    assert supports_access_rules((3, 14, 0))
    assert supports_access_rules((4, 0))
    assert not supports_access_rules((3, 12))
    assert not supports_access_rules(None)


def test_rules_compare_without_keystones_ids_and_order() -> None:
    want = [rule("compute", "GET", "/v2.1/servers/*"), rule("image", "GET", "/v2/images")]
    have = [{**want[1], "id": "a1"}, {**want[0], "id": "b2"}]
    assert same_rules(have, want)
    assert not same_rules(have[:1], want)
    assert not same_rules(None, want)
    assert same_rules(None, [])
