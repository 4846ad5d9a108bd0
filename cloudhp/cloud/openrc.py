"""Reading an openrc file's OS_* values without executing it.

The file comes from a web download and a bastion runs cloudhp unattended, so it is
parsed the way sh would read its assignments, and a line that would run a command
is refused (naming the line and why) instead of being run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from cloudhp.errors import UsageError

SECRET_VARIABLES = frozenset({"OS_PASSWORD", "OS_APPLICATION_CREDENTIAL_SECRET", "OS_TOKEN"})

VALID_OPENRC_EXAMPLE = """\
export OS_AUTH_URL=https://keystone.example.org:5000/v3
export OS_PROJECT_NAME="project3"
export OS_USER_DOMAIN_NAME="Default"
export OS_PROJECT_DOMAIN_ID="default"
export OS_USERNAME="alice"
export OS_PASSWORD=...   (or Horizon's password prompt)
export OS_REGION_NAME="RegionOne"
export OS_IDENTITY_API_VERSION=3"""


@dataclass(frozen=True, repr=False)
class OpenrcFile:
    """The OS_* values of an openrc file, and whether it prompts for the password."""

    variables: Mapping[str, str]
    needs_password: bool = False
    source: str = "openrc"

    def __repr__(self) -> str:
        shown = {k: ("******" if k in SECRET_VARIABLES else v) for k, v in self.variables.items()}
        return (
            f"OpenrcFile(source={self.source!r}, variables={shown!r}, "
            f"needs_password={self.needs_password})"
        )

    __str__ = __repr__


_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_ASSIGN = re.compile(rf"^(?:export\s+)?({_NAME})=(.*)$", re.S)
_UNSET = re.compile(rf"^unset((?:\s+{_NAME})+)\s*(?:#.*)?$")
_READ = re.compile(rf"^read(?:\s+-[A-Za-z]+)*\s+({_NAME})\s*$")
_ECHO_PROMPT = re.compile(r"^echo\s.*password", re.I)
_IF_EMPTY_UNSET = re.compile(
    rf'^if\s+\[\s+-z\s+"?\$\{{?({_NAME})\}}?"?\s+\];?\s*then\s+unset\s+({_NAME})\s*;\s*fi\s*$'
)
_OPERATORS = set(";|&<>()")
_SPECIAL_PARAMS = set("0123456789?!@*#$-")


class _Reject(Exception):
    """Why a line cannot be read without executing it."""


def _expand(
    text: str, i: int, defined: Mapping[str, str], prompt_vars: set[str]
) -> tuple[str, int, bool]:
    """Expands the `$...` at text[i]; returns (value, next index, used a prompt variable)."""
    nxt = text[i + 1] if i + 1 < len(text) else ""
    if nxt == "(":
        raise _Reject("command substitution $(...) would run a command")
    if nxt == "{":
        end = text.find("}", i)
        if end < 0:
            raise _Reject("unterminated ${")
        name = text[i + 2 : end]
        if not re.fullmatch(_NAME, name):
            raise _Reject(f"parameter expansion ${{{name}}} is not supported, only ${{OS_NAME}}")
        end += 1
    elif nxt and re.match(r"[A-Za-z_]", nxt):
        match = re.match(_NAME, text[i + 1 :])
        assert match is not None
        name = match.group(0)
        end = i + 1 + len(name)
    elif nxt in _SPECIAL_PARAMS:
        raise _Reject(f"${nxt} is a shell parameter, not a value of this file")
    else:
        return "$", i + 1, False
    if name in prompt_vars:
        return "", end, True
    if name in defined:
        return defined[name], end, False
    if name.startswith("OS_"):
        raise _Reject(f"${name} is not set earlier in this file")
    raise _Reject(
        f"${name} refers to a variable outside this file; only OS_* values that the "
        "file itself sets can be used"
    )


def _substitute(
    text: str, i: int, defined: Mapping[str, str], prompt_vars: set[str]
) -> tuple[str, int, bool]:
    """Reads text[i] where sh would substitute (unquoted or in double quotes).

    Backticks are refused and `$` expanded alike in both places, so neither can slip
    through one of them. Returns (value, next index, used a prompt variable).
    """
    c = text[i]
    if c == "`":
        raise _Reject("backticks would run a command")
    if c == "$":
        return _expand(text, i, defined, prompt_vars)
    return c, i + 1, False


def _parse_value(text: str, defined: Mapping[str, str], prompt_vars: set[str]) -> tuple[str, bool]:
    """Reads the right-hand side of an assignment the way sh would, minus execution."""
    out: list[str] = []
    used_prompt = False
    i = 0
    while i < len(text):
        c = text[i]
        if c in " \t":
            rest = text[i:].strip()
            if rest and not rest.startswith("#"):
                raise _Reject(f"unquoted space: {rest!r} would run as a command (quote the value)")
            break
        if c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise _Reject("unterminated single quote (values must fit on one line)")
            out.append(text[i + 1 : end])
            i = end + 1
        elif c == '"':
            i += 1
            while True:
                if i >= len(text):
                    raise _Reject("unterminated double quote (values must fit on one line)")
                c = text[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < len(text) and text[i + 1] in '$`"\\':
                    out.append(text[i + 1])
                    i += 2
                else:
                    value, i, prompt = _substitute(text, i, defined, prompt_vars)
                    out.append(value)
                    used_prompt |= prompt
        elif c == "\\":
            if i + 1 >= len(text):
                raise _Reject("line continuation is not supported (values must fit on one line)")
            out.append(text[i + 1])
            i += 2
        elif c in _OPERATORS:
            raise _Reject(f"shell operator {c!r} would run a command")
        else:
            value, i, prompt = _substitute(text, i, defined, prompt_vars)
            out.append(value)
            used_prompt |= prompt
    return "".join(out), used_prompt


def parse_openrc(text: str, source: str = "openrc") -> OpenrcFile:
    """Reads the OS_* assignments of an openrc file without executing it.

    Accepts what Horizon and `openstack` write: `export OS_X=value` (export optional,
    quotes, `$OS_Y` references to earlier values), comments, `unset`, the
    `if [ -z "$OS_X" ]; then unset OS_X; fi` guard, and the password prompt
    (`echo ... Password ...`, `read -sr VAR`, `export OS_PASSWORD=$VAR`), which
    sets `needs_password` instead of a value.

    Args:
        text: The file's content.
        source: How to name the file in messages (usually its path).

    Returns:
        The values; secrets stay plain strings here but are hidden from repr.

    Raises:
        UsageError: For any other line (naming its number and why it is refused), and
            when OS_AUTH_URL is missing.
    """
    variables: dict[str, str] = {}
    prompt_vars: set[str] = set()
    needs_password = False
    for lineno, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            if match := _ASSIGN.match(line):
                name, rhs = match.groups()
                if not name.startswith("OS_"):
                    raise _Reject(f"{name} is not an OS_* variable; cloudhp reads only OS_* values")
                value, used_prompt = _parse_value(rhs, variables, prompt_vars)
                if used_prompt:
                    if name != "OS_PASSWORD" or value:
                        raise _Reject("the password prompt's variable can only be OS_PASSWORD")
                    needs_password = True
                    variables.pop(name, None)
                    continue
                variables[name] = value
                if name == "OS_PASSWORD":
                    needs_password = False
            elif match := _UNSET.match(line):
                for name in match.group(1).split():
                    variables.pop(name, None)
                    if name == "OS_PASSWORD":
                        needs_password = False
            elif match := _IF_EMPTY_UNSET.match(line):
                tested, unset = match.groups()
                if tested != unset:
                    raise _Reject('only `if [ -z "$OS_X" ]; then unset OS_X; fi` is understood')
                if not variables.get(tested):
                    variables.pop(tested, None)
            elif match := _READ.match(line):
                prompt_vars.add(match.group(1))
            elif _ECHO_PROMPT.match(line):
                if "$(" in line or "`" in line:
                    raise _Reject("command substitution in echo would run a command")
            elif line.startswith("export ") and re.fullmatch(rf"export(\s+{_NAME})+", line):
                raise _Reject("export without a value; write export OS_NAME=value")
            else:
                raise _Reject(
                    "not an OS_* assignment; cloudhp never executes openrc files, so "
                    "commands are refused"
                )
        except _Reject as why:
            raise UsageError(
                f"{source} line {lineno}: cannot read {line[:80]!r}: {why}",
                hint="an openrc file for cloudhp holds only lines such as "
                "'export OS_USERNAME=\"alice\"'; remove or fix this line",
            ) from None
    if not variables.get("OS_AUTH_URL"):
        raise UsageError(
            f"{source} does not set OS_AUTH_URL, the address of the identity service",
            hint="download the file from Horizon (API Access > Download OpenStack RC File); "
            "a valid openrc looks like:\n" + VALID_OPENRC_EXAMPLE,
        )
    return OpenrcFile(variables, needs_password, source)
