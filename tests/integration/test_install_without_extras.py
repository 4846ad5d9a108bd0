"""A bastion install (`pip install .`, no extras) has a working CLI without Flask, and
`--cloud local` there says how to get the local cloud."""

from __future__ import annotations

import json
import os
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("bare") / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(target)
    subprocess.run(
        [str(target / "bin/python"), "-m", "pip", "install", "-q",
         "--disable-pip-version-check", str(ROOT)],
        check=True,
        cwd=target.parent,
    )  # fmt: skip
    return target


def _env(tmp: Path) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(tmp), "CLOUDHP_HOME": str(tmp / "home")}


def test_no_flask_installed_or_imported(bare_venv: Path, tmp_path: Path) -> None:
    python = str(bare_venv / "bin/python")
    probe = (
        "import importlib.util, sys\n"
        "from click.testing import CliRunner\n"
        "from cloudhp.cli import main\n"
        "result = CliRunner().invoke(main, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'init' in result.output\n"
        "print(importlib.util.find_spec('flask') is None, "
        "any(m.split('.')[0] in ('flask', 'werkzeug') for m in sys.modules))\n"
    )
    out = subprocess.run(
        [python, "-c", probe], capture_output=True, text=True, env=_env(tmp_path), cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False"]


def test_cloud_local_without_the_extra_names_it(bare_venv: Path, tmp_path: Path) -> None:
    out = subprocess.run(
        [str(bare_venv / "bin/cloudhp"), "init", "--cloud", "local", "--output", "json"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        cwd=tmp_path,
    )
    assert out.returncode == 5, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    assert doc["error"] == "EnvironmentProblem"
    assert "cloudhp[local]" in doc["hint"]
    assert not (tmp_path / "home" / "clusters").exists()
