"""Heat over real HTTP: openstacksdk, python-heatclient (the `openstack stack` CLI).

The wait condition tests need nothing but localcloud: the test itself plays the
server and runs the handle's curl_cli. The network/volume stack uses Neutron and
Cinder, the server stacks Nova, Docker and a signal URL reachable from the server
containers.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from heatclient.common import template_format
from openstack import exceptions as sdk_exc
from openstack.connection import Connection

if TYPE_CHECKING:
    from conftest import LocalCloud

TEMPLATES = Path(__file__).parent / "templates"


def _template(name: str) -> dict[str, Any]:
    """Parsed as heatclient does (dates such as the version stay text)."""
    return template_format.parse((TEMPLATES / name).read_text())


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _wait_status(conn: Connection, stack_id: str, timeout: float = 120) -> Any:
    """The stack once it leaves *_IN_PROGRESS."""
    deadline = time.monotonic() + timeout
    while True:
        stack = conn.orchestration.get_stack(stack_id)
        if not stack.status.endswith("IN_PROGRESS"):
            return stack
        assert time.monotonic() < deadline, f"stack still {stack.status}"
        time.sleep(0.3)


def _wait_gone(conn: Connection, stack_id: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while (stack := conn.orchestration.find_stack(stack_id, ignore_missing=True)) is not None:
        assert stack.status != "DELETE_FAILED", stack.status_reason
        assert time.monotonic() < deadline, "stack not deleted in time"
        time.sleep(0.3)


def _resource(conn: Connection, stack: Any, name: str) -> Any:
    for res in conn.orchestration.resources(stack):
        if res.name == name:
            return res
    raise AssertionError(f"no resource {name}")


def _curl_cli(localcloud: LocalCloud, conn: Connection, stack: Any) -> str:
    """The handle's curl_cli, read as a user would (`openstack stack resource show`)."""
    url = f"{_heat_url(localcloud, conn)}/stacks/{stack.name}/{stack.id}/resources/handle"
    deadline = time.monotonic() + 30
    while True:
        body = requests.get(url, headers=_headers(conn), timeout=30).json()["resource"]
        if body["resource_status"] == "CREATE_COMPLETE":
            return body["attributes"]["curl_cli"]
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def _signal(curl_cli: str, body: dict[str, Any]) -> str:
    """Run curl_cli as a server's user_data would, with a JSON body."""
    out = subprocess.run(
        f"{curl_cli} --silent --show-error --data-binary {shlex.quote(json.dumps(body))}",
        shell=True,
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout


def _heat_url(localcloud: LocalCloud, conn: Connection) -> str:
    return f"{localcloud.url}/heat-api/v1/{conn.current_project_id}"


def _headers(conn: Connection) -> dict[str, str]:
    return {"X-Auth-Token": conn.session.get_token(), "Accept": "application/json"}


def _delete_stacks(conn: Connection, ids: list[str]) -> None:
    """Delete what a test left (before removing the networks its stacks use)."""
    while ids:
        stack_id = ids.pop()
        if conn.orchestration.find_stack(stack_id, ignore_missing=True) is not None:
            conn.orchestration.delete_stack(stack_id)
            _wait_gone(conn, stack_id, timeout=300)


@pytest.fixture
def stacks(conn: Connection) -> Iterator[list[str]]:
    """Stack ids to delete after the test, whatever it left."""
    ids: list[str] = []
    yield ids
    _delete_stacks(conn, ids)


# --- API shape -------------------------------------------------------------------------


def test_catalog_build_info_and_lookup_redirect(
    localcloud: LocalCloud, conn: Connection, stacks: list[str]
) -> None:
    base = _heat_url(localcloud, conn)
    assert conn.endpoint_for("orchestration").rstrip("/") == base
    info = requests.get(f"{base}/build_info", headers=_headers(conn), timeout=30)
    assert info.status_code == 200 and "engine" in info.json()

    name = _name("lookup")
    stack = conn.orchestration.create_stack(
        name=name, template=_template("waitcondition.yaml"), parameters={"timeout": 60}
    )
    stacks.append(stack.id)
    for ref in (name, stack.id):
        resp = requests.get(
            f"{base}/stacks/{ref}", headers=_headers(conn), allow_redirects=False, timeout=30
        )
        assert resp.status_code == 302
        assert resp.headers["Location"].endswith(f"/stacks/{name}/{stack.id}")
    # found by name and by id, like a real cloud
    assert conn.orchestration.find_stack(name).id == stack.id
    listed = [s.name for s in conn.orchestration.stacks(name=name)]
    assert listed == [name]
    body = requests.get(f"{base}/stacks/{name}/{stack.id}", headers=_headers(conn), timeout=30)
    shown = body.json()["stack"]
    assert shown["stack_status"] == "CREATE_IN_PROGRESS"
    assert shown["parameters"]["timeout"] == "60"
    assert shown["parameters"]["OS::stack_name"] == name
    # the engine's credential never shows
    assert "credential" not in body.text and "secret" not in body.text

    resp = requests.post(
        f"{base}/stacks",
        json={"stack_name": name, "template": _template("waitcondition.yaml")},
        headers=_headers(conn),
        timeout=30,
    )
    assert resp.status_code == 409
    assert resp.json()["error"]["type"] == "StackExists"


@pytest.mark.parametrize(
    ("template", "kind", "message"),
    [
        ("bad_unknown_type.yaml", "StackValidationFailed", "OS::Nova::Sever"),
        ("bad_reference.yaml", "InvalidTemplateReference", '"hanlde"'),
    ],
)
def test_validate_rejects_bad_templates(
    localcloud: LocalCloud, conn: Connection, template: str, kind: str, message: str
) -> None:
    resp = requests.post(
        f"{_heat_url(localcloud, conn)}/validate",
        json={"template": (TEMPLATES / template).read_text()},
        headers=_headers(conn),
        timeout=30,
    )
    assert resp.status_code == 400
    body = resp.json()
    assert body["code"] == 400 and body["title"] == "Bad Request"
    assert body["error"]["type"] == kind
    assert message in body["error"]["message"] and message in body["explanation"]
    with pytest.raises(sdk_exc.BadRequestException, match=message):
        conn.orchestration.validate_template(_template(template))


def test_validate_describes_parameters(conn: Connection) -> None:
    result = conn.orchestration.validate_template(_template("waitcondition.yaml"))
    assert result.parameters["timeout"]["Type"] == "Number"
    assert result.parameters["timeout"]["Default"] == 120
    assert result.parameters["timeout"]["MaxValue"] == 43200


def test_missing_or_invalid_parameter_is_400_and_creates_nothing(
    localcloud: LocalCloud, conn: Connection
) -> None:
    base = _heat_url(localcloud, conn)
    name = _name("missing")
    resp = requests.post(
        f"{base}/stacks",
        json={"stack_name": name, "template": _template("required_parameter.yaml")},
        headers=_headers(conn),
        timeout=30,
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "UserParameterMissing"
    assert "The Parameter (key_name) was not provided." in resp.json()["explanation"]
    resp = requests.post(
        f"{base}/stacks",
        json={
            "stack_name": name,
            "template": _template("waitcondition.yaml"),
            "parameters": {"timeout": "0"},
        },
        headers=_headers(conn),
        timeout=30,
    )
    assert resp.status_code == 400
    assert "Parameter 'timeout' is invalid" in resp.json()["error"]["message"]
    assert conn.orchestration.find_stack(name, ignore_missing=True) is None


# --- wait conditions --------------------------------------------------------------------


def test_wait_condition_success_outputs_and_delete(
    localcloud: LocalCloud, conn: Connection
) -> None:
    name = _name("wc-ok")
    stack = conn.orchestration.create_stack(
        name=name, template=_template("waitcondition.yaml"), parameters={"count": 2}
    )
    curl_cli = _curl_cli(localcloud, conn, stack)
    assert curl_cli.startswith("curl -i -X POST -H 'X-Auth-Token: ")
    assert "-H 'Content-Type: application/json' -H 'Accept: application/json' http" in curl_cli
    assert curl_cli.endswith(f"/stacks/{name}/{stack.id}/resources/handle/signal")
    assert "200" in _signal(
        curl_cli, {"status": "SUCCESS", "reason": "one", "data": "d1", "id": "a"}
    )
    time.sleep(1.5)  # one of two signals: the wait goes on
    assert conn.orchestration.get_stack(stack.id).status == "CREATE_IN_PROGRESS"
    _signal(curl_cli, {"status": "SUCCESS", "reason": "two", "data": {"k": 2}, "id": "b"})
    done = _wait_status(conn, stack.id)
    assert done.status == "CREATE_COMPLETE", done.status_reason
    outputs = {o["output_key"]: o["output_value"] for o in done.outputs}
    assert json.loads(outputs["data"]) == {"a": "d1", "b": {"k": 2}}
    assert outputs["curl_cli"] == curl_cli

    resources = {r.name: r for r in conn.orchestration.resources(done)}
    assert {n: r.status for n, r in resources.items()} == {
        "handle": "CREATE_COMPLETE",
        "wait": "CREATE_COMPLETE",
    }
    # the application credential the engine acts with exists while the stack does
    creds = conn.identity.application_credentials(user=conn.current_user_id)
    assert f"heat-stack-{stack.id}" in [c.name for c in creds]

    conn.orchestration.delete_stack(done)
    _wait_gone(conn, stack.id)
    creds = conn.identity.application_credentials(user=conn.current_user_id)
    assert f"heat-stack-{stack.id}" not in [c.name for c in creds]
    # the signal token died with the stack
    resp = subprocess.run(
        f"{curl_cli} --silent --output /dev/null --write-out '%{{http_code}}'",
        shell=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert resp.stdout.strip() == "401"
    store = localcloud.store()
    for kind in ("heat_stack", "heat_resource", "heat_event", "heat_signal", "heat_credential"):
        assert [r for r in store.list(kind) if r.get("stack_id", r["id"]) == stack.id] == []


def test_failure_signal_fails_the_stack_with_its_reason(
    localcloud: LocalCloud, conn: Connection, stacks: list[str]
) -> None:
    stack = conn.orchestration.create_stack(
        name=_name("wc-fail"), template=_template("waitcondition.yaml")
    )
    stacks.append(stack.id)
    curl_cli = _curl_cli(localcloud, conn, stack)
    _signal(curl_cli, {"status": "FAILURE", "reason": "docker install failed"})
    done = _wait_status(conn, stack.id)
    assert done.status == "CREATE_FAILED"
    assert done.status_reason == (
        "Resource CREATE failed: WaitConditionFailure: resources.wait: docker install failed"
    )
    wait = _resource(conn, done, "wait")
    assert wait.status == "CREATE_FAILED"
    assert wait.status_reason == "WaitConditionFailure: resources.wait: docker install failed"


def test_bad_signal_and_foreign_token_are_refused(
    localcloud: LocalCloud, conn: Connection, admin_conn: Connection, stacks: list[str]
) -> None:
    stack = conn.orchestration.create_stack(
        name=_name("wc-auth"), template=_template("waitcondition.yaml")
    )
    stacks.append(stack.id)
    curl_cli = _curl_cli(localcloud, conn, stack)
    url = curl_cli.rsplit(" ", 1)[1]
    bad = requests.post(url, json={"status": "MAYBE"}, headers=_headers(conn), timeout=30)
    assert bad.status_code == 400
    nobody = requests.post(url, json={}, headers={"X-Auth-Token": "nope"}, timeout=30)
    assert nobody.status_code == 401
    # a Keystone token of the project works too (`openstack stack resource signal`)
    ok = requests.post(url, json={"status": "SUCCESS"}, headers=_headers(conn), timeout=30)
    assert ok.status_code == 200
    assert _wait_status(conn, stack.id).status == "CREATE_COMPLETE"


def test_wait_condition_timeout(conn: Connection, stacks: list[str]) -> None:
    stack = conn.orchestration.create_stack(
        name=_name("wc-timeout"),
        template=_template("waitcondition.yaml"),
        parameters={"timeout": 2},
    )
    stacks.append(stack.id)
    done = _wait_status(conn, stack.id, timeout=30)
    assert done.status == "CREATE_FAILED"
    assert done.status_reason == (
        "Resource CREATE failed: WaitConditionTimeout: resources.wait: 0 of 1 received"
    )


def test_delete_while_creating_cancels_and_cleans_up(
    localcloud: LocalCloud, conn: Connection
) -> None:
    stack = conn.orchestration.create_stack(
        name=_name("wc-cancel"), template=_template("waitcondition.yaml")
    )
    _curl_cli(localcloud, conn, stack)
    conn.orchestration.delete_stack(stack)
    _wait_gone(conn, stack.id, timeout=30)


@pytest.mark.skipif(shutil.which("openstack") is None, reason="no openstack CLI")
def test_openstack_cli_stack_create_wait(localcloud: LocalCloud, conn: Connection) -> None:
    """`openstack stack create --wait -t tmpl.yaml` through python-heatclient."""
    name = _name("cli")
    template = TEMPLATES / "waitcondition.yaml"
    cmd = ["openstack", "stack", "create", "--wait", "--poll", "1", "-t", str(template)]
    cmd += ["--parameter", "timeout=60", "-f", "json", name]
    proc = subprocess.Popen(
        cmd, env=localcloud.cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while (stack := conn.orchestration.find_stack(name, ignore_missing=True)) is None:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.3)
        _signal(_curl_cli(localcloud, conn, stack), {"status": "SUCCESS", "data": "from-cli"})
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, (err, conn.orchestration.get_stack(stack.id).status_reason)
    # --wait prints the events as they come, then the stack
    log, _, shown = out.partition("\n{")
    assert f"[{name}]: CREATE_IN_PROGRESS  Stack CREATE started" in log
    assert f"[{name}]: CREATE_COMPLETE  Stack CREATE completed successfully" in log
    assert json.loads("{" + shown)["stack_status"] == "CREATE_COMPLETE"

    def cli(*args: str) -> Any:
        done = subprocess.run(
            ["openstack", *args, "-f", "json"],
            env=localcloud.cli_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return json.loads(done.stdout)

    assert name in [s["Stack Name"] for s in cli("stack", "list")]
    shown = cli("stack", "show", name)
    assert shown["stack_status"] == "CREATE_COMPLETE" and shown["parameters"]["timeout"] == "60"
    valid = cli("orchestration", "template", "validate", "-t", str(template))
    assert valid["Parameters"]["count"]["Type"] == "Number"
    outputs = cli("stack", "output", "show", "--all", name)
    assert json.loads(outputs["data"]["output_value"]) == {"1": "from-cli"}
    resources = cli("stack", "resource", "list", name)
    assert sorted(r["resource_name"] for r in resources) == ["handle", "wait"]
    events = cli("stack", "event", "list", name)
    assert events

    subprocess.run(
        ["openstack", "stack", "delete", "--yes", "--wait", name],
        env=localcloud.cli_env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert conn.orchestration.find_stack(name, ignore_missing=True) is None


# --- real resources ---------------------------------------------------------------------


@pytest.mark.docker
def test_network_and_volume_stack_then_delete_in_reverse_order(
    localcloud: LocalCloud, conn: Connection, stacks: list[str]
) -> None:
    net = conn.network.create_network(name=_name("heat-net"))
    subnet = conn.network.create_subnet(network_id=net.id, cidr="10.77.200.0/24", ip_version=4)
    public = conn.network.find_network("public", ignore_missing=False)
    router = conn.network.create_router(
        name=_name("heat-router"), external_gateway_info={"network_id": public.id}
    )
    conn.network.add_interface_to_router(router, subnet=subnet.id)
    try:
        name = _name("netvol")
        stack = conn.orchestration.create_stack(
            name=name,
            template=_template("network_volume.yaml"),
            parameters={"network": net.name},
        )
        stacks.append(stack.id)
        done = _wait_status(conn, stack.id, timeout=180)
        assert done.status == "CREATE_COMPLETE", done.status_reason
        outputs = {o["output_key"]: o["output_value"] for o in done.outputs}
        ids = {r.name: r.physical_resource_id for r in conn.orchestration.resources(done)}

        sg = conn.network.get_security_group(ids["sg"])
        ingress = [r for r in sg.security_group_rules if r["direction"] == "ingress"]
        assert {(r["protocol"], r["port_range_min"]) for r in ingress} == {
            ("tcp", 22),
            ("udp", 4789),
        }
        assert [r["remote_group_id"] for r in ingress if r["protocol"] == "udp"] == [sg.id]
        port = conn.network.get_port(ids["port"])
        assert port.security_group_ids == [sg.id]
        assert outputs["port_ip"] == port.fixed_ips[0]["ip_address"]
        fip = conn.network.get_ip(ids["fip"])
        assert fip.port_id == port.id
        assert outputs["floating_ip"] == fip.floating_ip_address
        assert outputs["summary"] == f"{fip.floating_ip_address} {sg.id}"
        volume = conn.block_storage.get_volume(ids["volume"])
        assert volume.status == "available" and volume.size == 1
        assert volume.name == f"{name}-data" and outputs["volume_id"] == volume.id
        keypair = conn.compute.get_keypair(f"{name}-key")
        assert ids["key"] == keypair.name
        assert outputs["private_key"].startswith("-----BEGIN")

        conn.orchestration.delete_stack(done)
        _wait_gone(conn, stack.id)
        # the order (fip, then port, then sg) is checked in test_heat_engine.py
        assert conn.network.find_security_group(ids["sg"], ignore_missing=True) is None
        assert conn.network.find_port(ids["port"], ignore_missing=True) is None
        assert conn.network.find_ip(ids["fip"], ignore_missing=True) is None
        assert conn.block_storage.find_volume(ids["volume"], ignore_missing=True) is None
        assert conn.compute.find_keypair(ids["key"], ignore_missing=True) is None
    finally:
        _delete_stacks(conn, stacks)
        conn.network.remove_interface_from_router(router, subnet_id=subnet.id)
        conn.network.delete_router(router)
        conn.network.delete_network(net)


@pytest.mark.docker
def test_server_signals_its_wait_condition_from_user_data(
    localcloud: LocalCloud, conn: Connection, stacks: list[str]
) -> None:
    """The golden-image pattern: user_data runs curl_cli; needs the public listener."""
    net = conn.network.create_network(name=_name("heat-srv-net"))
    conn.network.create_subnet(network_id=net.id, cidr="10.77.201.0/24", ip_version=4)
    try:
        name = _name("server")
        stack = conn.orchestration.create_stack(
            name=name,
            template=_template("server_waitcondition.yaml"),
            parameters={"network": net.id, "message": "hello"},
            timeout_mins=10,
        )
        stacks.append(stack.id)
        done = _wait_status(conn, stack.id, timeout=600)
        assert done.status == "CREATE_COMPLETE", done.status_reason
        outputs = {o["output_key"]: o["output_value"] for o in done.outputs}
        assert json.loads(outputs["data"]) == {"boot": "hello"}
        assert outputs["address"].startswith("10.77.201.")
        server_id = _resource(conn, done, "server").physical_resource_id
        assert conn.compute.get_server(server_id).status == "ACTIVE"
        volume_id = _resource(conn, done, "data").physical_resource_id
        volume = conn.block_storage.get_volume(volume_id)
        assert volume.status == "in-use"
        assert [a["server_id"] for a in volume.attachments] == [server_id]
        conn.orchestration.delete_stack(done)
        _wait_gone(conn, stack.id, timeout=300)
        assert conn.compute.find_server(server_id, ignore_missing=True) is None
        assert conn.block_storage.find_volume(volume_id, ignore_missing=True) is None
    finally:
        _delete_stacks(conn, stacks)
        for port in conn.network.ports(network_id=net.id):
            conn.network.delete_port(port)
        conn.network.delete_network(net)


@pytest.mark.docker
def test_server_in_error_fails_the_stack_with_novas_fault(
    localcloud: LocalCloud, conn: Connection, stacks: list[str]
) -> None:
    store = localcloud.store()
    broken = store.insert(
        "image",
        {"status": "active", "visibility": "public", "min_ram": 0, "min_disk": 0,
         "disk_format": "raw", "container_format": "bare", "tags": [], "properties": {},
         "_docker_image": "cloudhp/does-not-exist:never"},
        name=_name("broken-image"),
        project_id=conn.current_project_id,
    )  # fmt: skip
    net = conn.network.create_network(name=_name("heat-err-net"))
    conn.network.create_subnet(network_id=net.id, cidr="10.77.202.0/24", ip_version=4)
    try:
        stack = conn.orchestration.create_stack(
            name=_name("doomed"),
            template=_template("server_waitcondition.yaml"),
            parameters={"network": net.name, "image": broken["id"]},
        )
        stacks.append(stack.id)
        done = _wait_status(conn, stack.id, timeout=120)
        assert done.status == "CREATE_FAILED"
        prefix = "Resource CREATE failed: ResourceInError: resources.server: Went to status ERROR"
        assert done.status_reason.startswith(prefix + ' due to "Message: ')
        assert done.status_reason.endswith(', Code: 500"')
        conn.orchestration.delete_stack(done)
        _wait_gone(conn, stack.id, timeout=120)
    finally:
        _delete_stacks(conn, stacks)
        for port in conn.network.ports(network_id=net.id):
            conn.network.delete_port(port)
        conn.network.delete_network(net)
        store.delete("image", broken["id"])
