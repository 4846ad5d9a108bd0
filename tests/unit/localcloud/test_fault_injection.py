"""Injected faults: the rule model (pure), the hook over the whole app (Flask's test
client), the admin endpoint, and the tool's request policy riding them out over HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Response, request
from werkzeug.serving import make_server

from cloudhp.errors import CloudUnavailable, UsageError
from cloudhp_localcloud import fault_injection as fi
from cloudhp_localcloud.app import create_app
from cloudhp_localcloud.config import LocalCloudConfig

from .conftest import Api

NOVA = ("nova", "compute")
NEUTRON = ("neutron", "network")
KEYSTONE = ("keystone", "identity")
AGENT = "cloudhp/0.1.0 openstacksdk/4.22.0 keystoneauth1/5.18.1"


# --- the rule model -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"kind": "418", "rate": 0.1}, "kind must be one of 503, 429, 500, slow, accept-and"),
        ({"kind": "accept-and-ignore", "rate": 1}, "an accept-and-ignore rule needs an action"),
        ({"kind": "500", "rate": 1, "action": ""}, "action must be the name of"),
        ({"kind": "503", "rate": 1.5}, "rate must be a number from 0 to 1"),
        ({"kind": "503", "rate": "often"}, "rate must be a number"),
        ({"kind": "503", "rate": 0.1, "paths": "/x"}, "unknown keys paths"),
        ({"kind": "503", "rate": 0.1, "path": "("}, "path is not a valid regular expression"),
        ({"kind": "slow", "rate": 0.1}, "a slow rule needs a delay"),
        ({"kind": "429", "rate": 0.1, "retry_after": 0.5}, "retry_after must be whole seconds"),
        ({"kind": "503", "rate": 0.1, "methods": [""]}, "methods must be a list"),
    ],
)
def test_a_wrong_rule_is_refused_saying_why(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fi.parse_rule(doc)


def test_rules_name_the_wrong_one_and_yaml_numbers_are_kinds() -> None:
    rules, seed = fi.parse_rules({"seed": 3, "rules": [{"kind": 503, "rate": 0.5}]})
    assert seed == 3 and rules[0].kind == "503"
    with pytest.raises(ValueError, match="rule 2: kind"):
        fi.parse_rules({"rules": [{"kind": "429", "rate": 0.1}, {"rate": 0.1}]})
    with pytest.raises(ValueError, match="unknown keys rule"):
        fi.parse_rules({"rule": []})


def test_matching_by_service_method_path_and_agent() -> None:
    rule = fi.parse_rule(
        {"service": "compute", "methods": ["post"], "path": "/servers$", "agent": "^cloudhp/"}
        | {"kind": "503", "rate": 1}
    )
    assert rule.matches(NOVA, "POST", "/compute/v2.1/servers", AGENT)
    assert not rule.matches(NOVA, "GET", "/compute/v2.1/servers", AGENT)
    assert not rule.matches(NOVA, "POST", "/compute/v2.1/servers/x/action", AGENT)
    assert not rule.matches(NOVA, "POST", "/compute/v2.1/servers", "heat keystoneauth1/5")
    assert not rule.matches(NEUTRON, "POST", "/networking/v2.0/servers", AGENT)
    by_name = fi.parse_rule({"service": "neutron", "kind": "429", "rate": 1})
    assert by_name.matches(NEUTRON, "DELETE", "/networking/v2.0/ports/p", "")


def test_an_action_rule_matches_only_bodies_naming_that_action() -> None:
    rule = fi.parse_rule({"service": "compute", "action": "os-stop", "kind": "500", "rate": 1})
    action = "/compute/v2.1/servers/s/action"
    assert rule.matches(NOVA, "POST", action, AGENT, frozenset({"os-stop"}))
    assert not rule.matches(NOVA, "POST", action, AGENT, frozenset({"os-start"}))
    assert not rule.matches(NOVA, "POST", action, AGENT)
    assert rule.to_dict() == {"kind": "500", "rate": 1.0, "service": "compute", "action": "os-stop"}


def test_a_rule_without_service_spares_keystone_unless_it_is_named() -> None:
    anywhere = fi.parse_rule({"kind": "503", "rate": 1})
    assert anywhere.matches(NOVA, "GET", "/compute/v2.1/flavors", "")
    assert not anywhere.matches(KEYSTONE, "POST", "/identity/v3/auth/tokens", "")
    assert not anywhere.matches((), "GET", "/localcloud/faults", "")  # outside the services
    keystone = fi.parse_rule({"service": "identity", "kind": "503", "rate": 1})
    assert keystone.matches(KEYSTONE, "POST", "/identity/v3/auth/tokens", "")


def _kinds(injector: fi.Injector, n: int) -> list[str | None]:
    out = []
    for _ in range(n):
        decided = injector.decide(NOVA, "GET", "/compute/v2.1/servers", AGENT)
        out.append(decided[1].kind if decided else None)
    return out


def test_matching_rates_add_up_on_one_draw_and_a_seed_repeats_the_faults() -> None:
    rules, _ = fi.parse_rules(
        {"rules": [{"kind": "503", "rate": 0.05}, {"kind": "429", "rate": 0.05}]}
    )
    kinds = _kinds(fi.Injector(rules, seed=11), 20000)
    assert kinds == _kinds(fi.Injector(rules, seed=11), 20000)
    assert kinds != _kinds(fi.Injector(rules, seed=12), 20000)
    for kind in ("503", "429"):
        assert 0.045 < kinds.count(kind) / len(kinds) < 0.055, kind
    assert 0.09 < (len(kinds) - kinds.count(None)) / len(kinds) < 0.11


def test_report_counts_per_rule_and_totals_survive_new_rules() -> None:
    rules, _ = fi.parse_rules({"rules": [{"kind": "429", "rate": 1, "retry_after": 2}]})
    injector = fi.Injector(rules, seed=1)
    _kinds(injector, 3)
    assert injector.decide(KEYSTONE, "POST", "/identity/v3/auth/tokens", "") is None
    report = injector.report()
    assert report["seed"] == 1
    assert report["rules"] == [
        {"kind": "429", "rate": 1.0, "retry_after": 2, "matched": 3, "injected": 3}
    ]
    injector.configure((), None)
    assert injector.report()["rules"] == [] and isinstance(injector.report()["seed"], int)
    assert injector.report()["injected"] == {
        "503": 0, "429": 3, "500": 0, "slow": 0, "accept-and-ignore": 0
    }  # fmt: skip


def test_load_reads_yaml_and_names_the_file_it_refuses(tmp_path: Path) -> None:
    good = tmp_path / "faults.yaml"
    good.write_text("seed: 5\nrules:\n  - {service: network, kind: slow, rate: 0.2, delay: 1}\n")
    rules, seed = fi.load(good)
    assert seed == 5 and rules[0].delay == 1.0 and rules[0].service == "network"
    bad = tmp_path / "bad.json"
    bad.write_text('{"rules": [{"kind": "503", "rate": 2}]}')
    with pytest.raises(UsageError, match=f"fault rules in {bad}: rule 1: rate"):
        fi.load(bad)
    with pytest.raises(UsageError, match="cannot read the fault rules"):
        fi.load(tmp_path / "missing.yaml")


def test_the_daemon_refuses_a_wrong_file_before_it_starts(tmp_path: Path) -> None:
    from cloudhp_localcloud import daemon

    bad = tmp_path / "faults.yaml"
    bad.write_text("rules: [{kind: slow, rate: 0.1}]\n")
    config = LocalCloudConfig(data_dir=tmp_path / "lc", port=_free_port(), faults_path=bad)
    with pytest.raises(UsageError, match="rule 1: a slow rule needs a delay"):
        daemon.start(config)
    assert not config.pid_path.exists() and not config.log_path.exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the hook and the admin endpoint, over the whole app --------------------------------


@pytest.fixture(scope="module")
def lc(tmp_path_factory: pytest.TempPathFactory) -> Api:
    data = tmp_path_factory.mktemp("localcloud")
    rules = data.parent / "faults.yaml"
    rules.write_text("seed: 9\nrules:\n  - {service: image, kind: '503', rate: 0.5}\n")
    config = LocalCloudConfig(data_dir=data, faults_path=rules)
    return Api(client=create_app(config).test_client(), config=config)


def _put(lc: Api, *rules: dict[str, Any], seed: int = 1) -> dict[str, Any]:
    resp = lc.client.put(
        "/localcloud/faults", json={"seed": seed, "rules": list(rules)}, headers=lc.headers("admin")
    )
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["faults"]


def _report(lc: Api) -> dict[str, Any]:
    return lc.client.get("/localcloud/faults", headers=lc.headers("admin")).get_json()["faults"]


def test_the_file_named_by_the_config_is_in_force_at_start(lc: Api) -> None:
    assert _report(lc)["rules"] == [
        {"kind": "503", "rate": 0.5, "service": "image", "matched": 0, "injected": 0}
    ]
    assert _report(lc)["seed"] == 9


def test_only_an_admin_sees_or_changes_the_rules(lc: Api) -> None:
    assert lc.client.get("/localcloud/faults").status_code == 401
    demo = lc.headers("demo")
    assert lc.client.get("/localcloud/faults", headers=demo).status_code == 403
    refused = lc.client.put("/localcloud/faults", json={"rules": []}, headers=demo)
    assert refused.status_code == 403
    bad = lc.client.put(
        "/localcloud/faults", json={"rules": [{"kind": "418"}]}, headers=lc.headers("admin")
    )
    assert bad.status_code == 400 and "rule 1: kind" in bad.get_json()["error"]["message"]


def test_a_503_comes_before_authentication_and_a_failed_post_created_nothing(lc: Api) -> None:
    headers = lc.headers()
    _put(lc, {"service": "network", "methods": ["POST"], "kind": "503", "rate": 1})
    body = {"security_group": {"name": "sg-during-fault"}}
    resp = lc.client.post("/networking/v2.0/security-groups", json=body, headers=headers)
    assert resp.status_code == 503
    assert resp.get_json()["NeutronError"]["type"] == "HTTPServiceUnavailable"
    unauthenticated = lc.client.post("/networking/v2.0/security-groups", json=body)
    assert unauthenticated.status_code == 503  # the gateway answers before Keystone's check
    assert _put(lc)["injected"]["503"] >= 2
    groups = lc.client.get("/networking/v2.0/security-groups", headers=headers).get_json()
    assert "sg-during-fault" not in [g["name"] for g in groups["security_groups"]]


def test_a_429_is_nova_shaped_with_retry_after_and_keystone_is_spared(lc: Api) -> None:
    _put(lc, {"kind": "429", "rate": 1, "retry_after": 7})
    headers = lc.headers()  # a token request: Keystone is not faulted by such a rule
    resp = lc.client.get("/compute/v2.1/flavors", headers=headers)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    assert resp.get_json()["overLimit"]["code"] == 429
    assert lc.client.get("/localcloud/faults", headers=lc.headers("admin")).status_code == 200


def test_a_slow_answer_waits_then_serves(lc: Api) -> None:
    headers = lc.headers()
    _put(lc, {"service": "compute", "path": "/flavors$", "kind": "slow", "rate": 1, "delay": 0.3})
    start = time.monotonic()
    resp = lc.client.get("/compute/v2.1/flavors", headers=headers)
    assert resp.status_code == 200 and resp.get_json()["flavors"]
    assert time.monotonic() - start >= 0.3
    assert _put(lc)["injected"]["slow"] == 1


def _server(lc: Api) -> str:
    """A server record only (no container): the actions below never reach Docker."""
    doc = {"status": "ACTIVE", "vm_state": "active", "task_state": None, "power_state": 1}
    record = lc.store().insert("server", doc, project_id=lc.project_id(), name="fenced")
    return str(record["id"])


def test_os_stop_can_be_failed_or_accepted_and_ignored_and_other_actions_go_through(
    lc: Api,
) -> None:
    headers = lc.headers()
    server_id = _server(lc)
    url = f"/compute/v2.1/servers/{server_id}/action"
    stop_rule = {"service": "compute", "action": "os-stop", "rate": 1}
    _put(lc, stop_rule | {"kind": "500"})
    failed = lc.client.post(url, json={"os-stop": None}, headers=headers)
    assert failed.status_code == 500 and "rule 1" in failed.get_json()["computeFault"]["message"]
    # os-start is not the rule's action: Nova's own answer (409, the server is active)
    assert lc.client.post(url, json={"os-start": None}, headers=headers).status_code == 409

    _put(lc, stop_rule | {"kind": "accept-and-ignore"})
    accepted = lc.client.post(url, json={"os-stop": None}, headers=headers)
    assert accepted.status_code == 202 and accepted.get_data() == b""
    record = lc.store().get("server", server_id)
    assert (record["vm_state"], record["task_state"]) == ("active", None)  # never stopping
    assert lc.client.post(url, json={"os-stop": None}).status_code == 401
    report = _put(lc)  # the refused one was picked by the rule too: two
    assert report["injected"]["500"] == 1 and report["injected"]["accept-and-ignore"] == 2
    lc.store().delete("server", server_id)


# --- the tool's request policy against it, over HTTP ------------------------------------


@dataclass
class Served:
    api: Api
    auth_url: str
    flavor_lists: list[str | None]  # the OpenStack-API-Version each flavor list came with


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The whole app on a real port, for openstacksdk; its catalog names that port."""
    port = _free_port()
    config = LocalCloudConfig(data_dir=tmp_path_factory.mktemp("served"), port=port)
    app = create_app(config)
    out = Served(Api(client=app.test_client(), config=config), config.auth_url, [])

    @app.after_request
    def record(response: Response) -> Response:
        if request.path.endswith("/flavors/detail"):
            out.flavor_lists.append(request.headers.get("OpenStack-API-Version"))
        return response

    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield out
    server.shutdown()


def _connect(lc: Api, auth_url: str) -> Any:
    from cloudhp.cloud.connect import connect
    from cloudhp.cloud.credentials import AuthSpec, Secret

    auth = {
        "auth_url": auth_url,
        "username": "demo",
        "password": Secret(lc._password("demo")),
        "project_name": "demo",
        "user_domain_name": "Default",
        "project_domain_id": "default",
    }
    return connect(AuthSpec("password", auth, "test", region_name="RegionOne"))


def test_the_tools_retries_ride_out_a_quarter_of_requests_answered_429(
    served: Served,
) -> None:
    from cloudhp.cloud.calls import cloud_call

    lc = served.api
    conn = _connect(lc, served.auth_url)
    # retry_after 0: keystoneauth waits what Retry-After says, so the test takes no time
    _put(lc, {"service": "compute", "kind": "429", "rate": 0.25, "retry_after": 0}, seed=4)
    for _ in range(30):
        with cloud_call("listing flavors"):
            assert list(conn.compute.flavors())
    injected = _report(lc)["rules"][0]["injected"]
    _put(lc)
    assert injected >= 5, injected


def test_version_discovery_is_retried_so_the_microversion_is_kept(
    served: Served,
) -> None:
    """keystoneauth sends discovery outside the adapters' retries: a 429 there was
    swallowed and the request went out without a microversion (Nova 2.1: a create
    with tags is refused, a real Nova ignores a tags filter and lists every server)."""
    lc = served.api
    conn = _connect(lc, served.auth_url)
    served.flavor_lists.clear()
    discovery = {"service": "compute", "path": r"/compute(/v2\.1)?/?$", "agent": "^cloudhp/"}
    # seed 3 draws 0.24, then 0.54: the first discovery request fails, its retry does not
    _put(lc, discovery | {"kind": "429", "rate": 0.5, "retry_after": 0}, seed=3)
    assert list(conn.compute.flavors())
    injected = _report(lc)["rules"][0]["injected"]
    _put(lc)
    assert injected == 1
    sent = served.flavor_lists
    assert sent and all(v and v.startswith("compute 2.") for v in sent), sent


def test_a_token_request_answered_429_is_retried_then_transient(
    served: Served,
) -> None:
    """It failed authentication at once, as if the password were wrong (a UsageError)."""
    from cloudhp.cloud.connect import authenticate

    lc, auth_url = served.api, served.auth_url
    tokens = {"service": "identity", "path": "/auth/tokens$", "agent": "^cloudhp/"}
    _put(lc, tokens | {"kind": "429", "rate": 0.5, "retry_after": 0}, seed=3)
    authenticate(_connect(lc, auth_url))
    assert _report(lc)["rules"][0]["injected"] == 1
    _put(lc, tokens | {"kind": "429", "rate": 1, "retry_after": 0})
    try:
        with pytest.raises(CloudUnavailable, match="identity service answered 429 after retries"):
            authenticate(_connect(lc, auth_url))
        assert _report(lc)["rules"][0]["injected"] == 4  # the request and its 3 retries
    finally:
        _put(lc)


def test_a_post_answered_after_the_timeout_is_not_sent_again_a_get_is(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """keystoneauth counted a read timeout as a connection failure and sent the POST
    again: the cloud had acted on each, so a slow create made four security groups."""
    from cloudhp.cloud import connect as policy
    from cloudhp.cloud.calls import cloud_call

    monkeypatch.setattr(policy, "API_TIMEOUT", 0.5)
    lc = served.api
    conn = _connect(lc, served.auth_url)
    assert list(conn.network.security_groups())  # discovery and a token, before the faults
    slow = {"service": "network", "kind": "slow", "rate": 1, "delay": 1, "agent": "^cloudhp/"}
    _put(lc, slow | {"methods": ["GET"], "rate": 0.5}, seed=3)  # draws 0.24, 0.54: once
    with cloud_call("listing security groups"):
        assert list(conn.network.security_groups())
    assert _report(lc)["rules"][0]["injected"] == 1
    _put(lc, slow | {"methods": ["POST"]})
    with pytest.raises(CloudUnavailable), cloud_call("creating a security group"):
        conn.network.create_security_group(name="sg-slow")
    time.sleep(1.5)  # the slow requests' own threads go on and create
    _put(lc)
    names = [g["name"] for g in _groups(lc)]
    assert names.count("sg-slow") == 1, names


def _groups(lc: Api) -> list[dict[str, Any]]:
    resp = lc.client.get("/networking/v2.0/security-groups", headers=lc.headers())
    return list(resp.get_json()["security_groups"])
