import json

from click.testing import CliRunner

from cloudhp import __version__
from cloudhp.cli import main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_help_lists_only_working_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = {
        line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()
    }
    assert listed == set(main.commands)
    for name in listed:
        sub = CliRunner().invoke(main, [name, "--help"])
        assert sub.exit_code == 0, sub.output


def test_unknown_image_name_is_a_usage_error_naming_the_choices():
    result = CliRunner().invoke(main, ["images", "build", "nginx"])
    assert result.exit_code == 2
    assert "nginx" in result.output and "haproxy" in result.output


def test_errors_render_as_json_with_output_json(monkeypatch):
    from cloudhp.errors import EnvironmentProblem

    def no_engine():
        raise EnvironmentProblem("cannot reach the local Docker engine", hint="start Docker")

    monkeypatch.setattr("cloudhp.cli.images.local_engine", no_engine)
    result = CliRunner().invoke(main, ["images", "build", "--output", "json"])
    assert result.exit_code == 5
    doc = json.loads(result.output)
    assert doc["error"] == "EnvironmentProblem" and doc["hint"] == "start Docker"
