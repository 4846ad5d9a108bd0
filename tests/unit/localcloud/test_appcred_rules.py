"""Access rules of application credentials: keystonemiddleware's matching, and their
enforcement on the tokens of a credential, in-process (no Docker)."""

from __future__ import annotations

from typing import Any

import pytest

from cloudhp_localcloud.access_rules import allows, path_matches, rule_problem

from .conftest import Api


@pytest.mark.parametrize(
    ("path", "pattern", "matches"),
    [
        ("/v2.1/servers", "/v2.1/servers", True),
        ("/v2.1/servers/abc", "/v2.1/servers", False),  # the whole path, not a prefix
        ("/v2.1/servers/abc", "/v2.1/servers/*", True),
        ("/v2.1/servers/", "/v2.1/servers/*", False),  # `*`: at least one character
        ("/v2.1/servers/abc/action", "/v2.1/servers/*", False),  # `*`: one segment
        ("/v2.1/servers/abc/action", "/v2.1/servers/*/action", True),
        ("/v2.1/servers/abc/action", "/v2.1/servers/**", True),  # `**`: across `/`
        ("/v2.1/servers/", "/v2.1/servers/**", True),  # `**` may match nothing
        ("/v2.1/servers", "/v2.1/servers/**", False),
        ("/v2.1/servers/abc/os-volume_attachments/v1", "/v2.1/servers/{id}/**", True),
        ("/v2.1/servers/abc/tags", "/v2.1/servers/{server_id}/tags", True),
        ("/v2x1/servers", "/v2.1/servers", False),  # a dot is a dot
        ("/compute/v2.1/servers/detail", "/compute/v2.1/servers/*", True),
    ],
)
def test_paths_match_as_keystonemiddleware_matches_them(
    path: str, pattern: str, matches: bool
) -> None:
    assert path_matches(path, pattern) is matches


RULES = [{"service": "compute", "method": "GET", "path": "/compute/v2.1/servers/*"}]


def test_service_and_method_must_be_exactly_the_rules() -> None:
    assert allows(RULES, "compute", "GET", "/compute/v2.1/servers/detail")
    assert not allows(RULES, "compute", "DELETE", "/compute/v2.1/servers/abc")
    assert not allows(RULES, "compute", "get", "/compute/v2.1/servers/abc")
    assert not allows(RULES, "network", "GET", "/compute/v2.1/servers/abc")
    assert allows([], "network", "DELETE", "/networking/v2.0/ports/x")  # no rules: no limit


def test_a_limited_token_may_always_be_validated() -> None:
    assert allows(RULES, "identity", "GET", "/identity/v3/auth/tokens")
    assert not allows(RULES, "identity", "DELETE", "/identity/v3/auth/tokens")


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"service": "compute", "method": "*", "path": "/x"}, "access_rules/0/method"),
        ({"service": "compute", "method": "get", "path": "/x"}, "access_rules/0/method"),
        ({"service": "", "method": "GET", "path": "/x"}, "access_rules/0/service"),
        ({"service": "compute", "method": "GET", "path": "x"}, "access_rules/0/path"),
        ({"service": "compute", "method": "GET", "path": "/" + "x" * 225}, "access_rules/0/path"),
        ({"service": "compute", "method": "GET", "path": "/x", "roles": []}, "access_rules/0"),
        ("GET /x", "access_rules/0"),
    ],
)
def test_a_malformed_rule_names_its_field(rule: Any, field: str) -> None:
    problem = rule_problem(0, rule)
    assert problem is not None and f"'{field}'" in problem


def make_credential(api: Api, rules: Any) -> tuple[int, dict[str, Any]]:
    token, body = api.token()
    user = body["user"]["id"]
    resp = api.client.post(
        f"/identity/v3/users/{user}/application_credentials",
        json={
            "application_credential": {"name": f"rules-{len(str(rules))}", "access_rules": rules}
        },
        headers={"X-Auth-Token": token},
    )
    return resp.status_code, resp.get_json()


def credential_token(api: Api, credential: dict[str, Any]) -> str:
    identity = {
        "methods": ["application_credential"],
        "application_credential": {"id": credential["id"], "secret": credential["secret"]},
    }
    resp = api.client.post("/identity/v3/auth/tokens", json={"auth": {"identity": identity}})
    assert resp.status_code == 201, resp.get_json()
    return str(resp.headers["X-Subject-Token"])


def test_tokens_of_a_credential_with_rules_do_only_what_the_rules_name(api: Api) -> None:
    own_rule = "/identity/v3/users/*/application_credentials/*"
    rules = [
        {"service": "compute", "method": "GET", "path": "/compute/v2.1/servers/*"},
        {"service": "identity", "method": "GET", "path": own_rule},
    ]
    status, body = make_credential(api, rules)
    assert status == 201, body
    credential = body["application_credential"]
    assert [
        {k: r[k] for k in ("service", "method", "path")} for r in credential["access_rules"]
    ] == rules
    assert all(r["id"] for r in credential["access_rules"])
    headers = {"X-Auth-Token": credential_token(api, credential)}

    assert api.client.get("/compute/v2.1/servers/detail", headers=headers).status_code == 200
    own = f"/identity/v3/users/{credential['user_id']}/application_credentials/{credential['id']}"
    shown = api.client.get(own, headers=headers)
    assert shown.status_code == 200
    assert shown.get_json()["application_credential"]["access_rules"] == credential["access_rules"]
    for method, path in [
        ("GET", "/compute/v2.1/servers"),  # no rule names the bare collection
        ("GET", "/compute/v2.1/os-keypairs"),
        ("DELETE", "/compute/v2.1/servers/abc"),
        ("GET", "/networking/v2.0/networks"),
        ("DELETE", own),
    ]:
        refused = api.client.open(path, method=method, headers=headers)
        assert refused.status_code == 401, (method, path)
        assert refused.get_json()["error"]["message"] == (
            "The request you have made requires authentication."
        )
        assert refused.headers["WWW-Authenticate"].startswith("Keystone uri=")
    assert api.client.get("/compute/v2.1/servers/detail", headers=api.headers()).status_code == 200


def test_a_credential_without_rules_is_not_limited_by_them(api: Api) -> None:
    status, body = make_credential(api, [])
    assert status == 201 and body["application_credential"]["access_rules"] == []
    headers = {"X-Auth-Token": credential_token(api, body["application_credential"])}
    assert api.client.get("/networking/v2.0/networks", headers=headers).status_code == 200


def test_a_malformed_rule_is_refused_and_nothing_is_made(api: Api) -> None:
    token, who = api.token()
    before = api.client.get(
        f"/identity/v3/users/{who['user']['id']}/application_credentials",
        headers={"X-Auth-Token": token},
    ).get_json()["application_credentials"]
    status, body = make_credential(api, [{"service": "compute", "method": "ANY", "path": "/x"}])
    assert status == 400
    assert "access_rules/0/method" in body["error"]["message"]
    after = api.client.get(
        f"/identity/v3/users/{who['user']['id']}/application_credentials",
        headers={"X-Auth-Token": token},
    ).get_json()["application_credentials"]
    assert after == before
