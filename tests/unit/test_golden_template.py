"""heat/golden-image.yaml: a well-formed HOT template, and its user data script's behaviour.

The script is rendered as Heat's str_replace would render it and run by bash in a
sandbox: fake `docker`, `curl`, `apt-get`, `systemctl` and `sleep` first on PATH, and
every absolute path it writes moved under a temporary directory. That checks what the
builder signals (SUCCESS with the image list, FAILURE with a reason) without a cloud.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from openstack.orchestration.util import template_format

from cloudhp.steps.golden_stack import TEMPLATE_PATH

TEMPLATE: dict[str, Any] = template_format.parse(TEMPLATE_PATH.read_text())
SIGNAL_CLI = (
    "curl -i -X POST -H 'X-Auth-Token: heat-token' -H 'Content-Type: application/json' "
    "-H 'Accept: application/json' http://heat.example/v1/p/stacks/s/i/resources/h/signal"
)


def _walk(node: Any) -> list[tuple[str, Any]]:
    """Every intrinsic function call in a template fragment, as (name, argument)."""
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"get_param", "get_attr", "get_resource", "str_replace", "list_join"}:
                found.append((key, value))
            found.extend(_walk(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_walk(item))
    return found


def test_is_a_hot_template_of_a_version_heat_knows() -> None:
    assert TEMPLATE["heat_template_version"] == "2018-08-31"
    types = {name: r["type"] for name, r in TEMPLATE["resources"].items()}
    assert types == {
        "wait_handle": "OS::Heat::WaitConditionHandle",
        "wait_condition": "OS::Heat::WaitCondition",
        "server": "OS::Nova::Server",
    }
    assert set(TEMPLATE["outputs"]) >= {"server_id", "first_address"}


def test_every_reference_names_a_declared_parameter_or_resource() -> None:
    params = set(TEMPLATE["parameters"]) | {"OS::stack_name", "OS::stack_id", "OS::project_id"}
    resources = set(TEMPLATE["resources"])
    used_params = set()
    for name, arg in _walk([TEMPLATE["resources"], TEMPLATE["outputs"]]):
        if name == "get_param":
            used_params.add(arg if isinstance(arg, str) else arg[0])
        elif name == "get_resource":
            assert arg in resources
        elif name == "get_attr":
            assert arg[0] in resources
    assert used_params <= params
    assert set(TEMPLATE["parameters"]) <= used_params, "every parameter is used"


def test_the_server_signals_the_handle_the_condition_waits_for() -> None:
    server = TEMPLATE["resources"]["server"]["properties"]
    assert server["user_data_format"] == "RAW"
    replace = server["user_data"]["str_replace"]
    assert replace["params"]["__heat_signal__"] == {"get_attr": ["wait_handle", "curl_cli"]}
    condition = TEMPLATE["resources"]["wait_condition"]["properties"]
    assert condition["handle"] == {"get_resource": "wait_handle"}
    assert condition["count"] == 1


def render(urls: list[str], build_id: str = "abc123", root: Path | None = None) -> str:
    """The user data as Heat renders it; with `root`, absolute paths moved under it."""
    replace = TEMPLATE["resources"]["server"]["properties"]["user_data"]["str_replace"]
    script: str = replace["template"]
    for key, value in {
        "__heat_signal__": SIGNAL_CLI,
        "__image_urls__": " ".join(urls),
        "__build_id__": build_id,
    }.items():
        script = script.replace(key, value)
    if root is not None:
        script = re.sub(r"(?<![\w.])/(etc|root|home|tmp)/", lambda m: f"{root}{m.group(0)}", script)
    return script


def test_rendered_script_is_valid_bash() -> None:
    script = render(["http://10.0.0.5:1234/tok/sampleapp.tar"])
    assert script.startswith("#!/bin/bash\n")
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)


FAKE_CURL = r"""#!/bin/bash
# Signal calls carry --data-binary; anything else is an artifact download.
while [ $# -gt 0 ]; do
  case "$1" in
    --data-binary) printf '%s\n' "$2" >> "$SANDBOX/signals"; exit 0 ;;
    http://*) url=$1 ;;
  esac
  shift
done
case "$url" in
  *missing.tar) echo "curl: (22) The requested URL returned error: 404" >&2; exit 22 ;;
  *) printf 'tarball of %s' "${url##*/}" ;;
esac
"""

FAKE_DOCKER = r"""#!/bin/bash
echo "docker $*" >> "$SANDBOX/docker.log"
case "$1" in
  info) [ -z "${DOCKER_DOWN:-}" ] || { echo "Cannot connect to the Docker daemon" >&2; exit 1; } ;;
  load) data=$(cat); echo "loaded: $data" >> "$SANDBOX/docker.log"
        case "$data" in *haproxy*) [ -z "${BAD_TAR:-}" ] \
          || { echo "invalid tar header" >&2; exit 1; } ;; esac
        echo "Loaded image: ${data#tarball of }" ;;
  image) printf 'cloudhp/sampleapp:aaa 111\ncloudhp/haproxy:bbb 222\n' ;;
esac
"""


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fakes = {
        "curl": FAKE_CURL,
        "docker": FAKE_DOCKER,
        "sleep": "#!/bin/sh\nexit 0\n",
        "systemctl": '#!/bin/sh\necho "systemctl $*" >> "$SANDBOX/systemctl.log"\n',
        "apt-get": '#!/bin/sh\necho "apt-get $*" >> "$SANDBOX/apt.log"\n'
        'case "$*" in *install*) cp "$SANDBOX/docker.fake" "$SANDBOX/bin/docker";; esac\n',
    }
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} is needed to run the script"
        (tools / tool).symlink_to(found)
    for name, text in fakes.items():
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "docker.fake").write_text(FAKE_DOCKER)
    (tmp_path / "docker.fake").chmod(0o755)
    for sub in ("etc/ssh", "root/.ssh", "home/debian/.ssh", "tmp"):
        (tmp_path / sub).mkdir(parents=True)
    (tmp_path / "etc/ssh/ssh_host_ed25519_key").write_text("secret")
    (tmp_path / "etc/ssh/ssh_host_ed25519_key.pub").write_text("pub")
    (tmp_path / "etc/ssh/sshd_config").write_text("keep")
    (tmp_path / "home/debian/.ssh/authorized_keys").write_text("builder key")
    return tmp_path


def run_script(
    sandbox: Path, urls: list[str], **env: str
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, str]]]:
    script = sandbox / "user-data"
    script.write_text(render(urls, root=sandbox))
    environ = {
        "PATH": f"{sandbox / 'bin'}:{sandbox / 'tools'}",
        "SANDBOX": str(sandbox),
        "HOME": str(sandbox / "root"),
        **env,
    }
    proc = subprocess.run(
        ["bash", str(script)], env=environ, capture_output=True, text=True, timeout=60
    )
    signals_file = sandbox / "signals"
    lines = signals_file.read_text().splitlines() if signals_file.exists() else []
    return proc, [json.loads(line) for line in lines]


TOOLS = ("bash", "cat", "cp", "grep", "mkdir", "paste", "rm", "sed", "seq", "sync", "tail", "tr")
URLS = ["http://10.0.0.5:4000/tokA/sampleapp.tar", "http://10.0.0.5:4000/tokB/haproxy.tar"]


def test_success_loads_every_image_and_signals_the_image_list(sandbox: Path) -> None:
    proc, signals = run_script(sandbox, URLS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert signals == [
        {
            "status": "SUCCESS",
            "reason": "golden image ready",
            "data": "cloudhp/sampleapp:aaa 111;cloudhp/haproxy:bbb 222",
        }
    ]
    log = (sandbox / "docker.log").read_text()
    assert "loaded: tarball of sampleapp.tar" in log
    assert "loaded: tarball of haproxy.tar" in log
    assert (sandbox / "etc/cloudhp/golden").read_text() == "abc123\n"
    assert sorted(p.name for p in (sandbox / "etc/ssh").iterdir()) == ["sshd_config"]
    assert not (sandbox / "home/debian/.ssh/authorized_keys").exists()
    assert not (sandbox / "apt.log").exists(), "Docker is there: nothing to install"


def test_a_missing_artifact_signals_failure_with_the_reason_but_not_the_token(
    sandbox: Path,
) -> None:
    urls = [URLS[0], "http://10.0.0.5:4000/secretTOKEN/missing.tar", URLS[1]]
    proc, signals = run_script(sandbox, urls)
    assert proc.returncode != 0
    assert len(signals) == 1
    assert signals[0]["status"] == "FAILURE"
    reason = signals[0]["reason"]
    assert "while loading image missing.tar" in reason
    assert "404" in reason
    assert "secretTOKEN" not in reason
    assert "haproxy" not in (sandbox / "docker.log").read_text(), "stops at the first failure"
    assert not (sandbox / "etc/cloudhp/golden").exists()


def test_a_broken_tarball_is_a_failure(sandbox: Path) -> None:
    proc, signals = run_script(sandbox, URLS, BAD_TAR="1")
    assert proc.returncode != 0
    assert [s["status"] for s in signals] == ["FAILURE"]
    assert "loading image haproxy.tar" in signals[0]["reason"]
    assert "invalid tar header" in signals[0]["reason"]


def test_an_engine_that_never_starts_is_a_failure(sandbox: Path) -> None:
    proc, signals = run_script(sandbox, URLS, DOCKER_DOWN="1")
    assert proc.returncode != 0
    assert [s["status"] for s in signals] == ["FAILURE"]
    assert "waiting for the Docker engine" in signals[0]["reason"]
    assert "Cannot connect to the Docker daemon" in signals[0]["reason"]


def test_docker_is_installed_when_the_base_image_lacks_it(sandbox: Path) -> None:
    (sandbox / "bin/docker").unlink()
    proc, signals = run_script(sandbox, URLS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "apt-get install -y -q docker.io curl" in (sandbox / "apt.log").read_text()
    assert [s["status"] for s in signals] == ["SUCCESS"]


def test_reason_with_quotes_is_still_valid_json(sandbox: Path) -> None:
    fake = sandbox / "bin/docker"
    fake.write_text(
        FAKE_DOCKER.replace('echo "invalid tar header"', "echo 'bad \"quoted\" \\\\ header'")
    )
    proc, signals = run_script(sandbox, URLS, BAD_TAR="1")
    assert proc.returncode != 0
    assert 'bad "quoted" \\\\ header' in signals[0]["reason"]


def test_the_sandbox_moves_every_absolute_path_the_script_writes() -> None:
    script = render(URLS, root=Path("/sandbox"))
    for word in re.findall(r"(?<![\w.])/(?:etc|root|home|tmp|var)/\S*", script):
        assert word.startswith("/sandbox/"), word
