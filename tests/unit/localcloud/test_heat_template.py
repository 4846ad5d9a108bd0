"""HOT parsing, parameters and their constraints, and every intrinsic function."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloudhp_localcloud.orchestration import errors
from cloudhp_localcloud.orchestration.functions import references, resolve
from cloudhp_localcloud.orchestration.parameters import Parameter
from cloudhp_localcloud.orchestration.resources import lookup
from cloudhp_localcloud.orchestration.template import Template, load

BASE = "heat_template_version: 2018-08-31\n"


class FakeStack:
    """A Resolver over fixed parameters and resources."""

    def __init__(self, params: dict[str, Any], refs: dict[str, Any] | None = None,
                 attrs: dict[tuple[str, str], Any] | None = None) -> None:  # fmt: skip
        self.params = params
        self.refs = refs or {}
        self.attrs = attrs or {}

    def param(self, name: str) -> Any:
        return self.params[name]

    def resource_ref(self, name: str) -> Any:
        return self.refs[name]

    def resource_attr(self, name: str, attribute: str) -> Any:
        return self.attrs[(name, attribute)]


def _parse(text: str) -> Template:
    return Template.parse(BASE + text)


def _validate(text: str) -> Template:
    template = _parse(text)
    template.validate(lookup)
    return template


# --- parsing ----------------------------------------------------------------------------


def test_version_is_kept_as_text_and_checked() -> None:
    assert load(BASE)["heat_template_version"] == "2018-08-31"
    assert Template.parse("heat_template_version: wallaby\n").version == "wallaby"
    with pytest.raises(errors.InvalidTemplateVersion, match="2099-01-01"):
        Template.parse("heat_template_version: 2099-01-01\n")
    with pytest.raises(errors.InvalidTemplateVersion, match="not found"):
        Template.parse("resources: {}\n")


def test_json_text_and_mappings_are_templates() -> None:
    doc = {"heat_template_version": "2015-10-15", "resources": {}}
    assert Template.parse(json.dumps(doc)).version == "2015-10-15"
    assert Template.parse(doc).version == "2015-10-15"
    with pytest.raises(errors.StackValidationFailed, match="mapping"):
        Template.parse("- a list\n")
    with pytest.raises(errors.StackValidationFailed, match="Error parsing template"):
        Template.parse("heat_template_version: [unclosed\n")


def test_bad_sections_and_resource_keys() -> None:
    with pytest.raises(errors.StackValidationFailed, match="section is invalid: resource"):
        _parse("resource: {}\n")
    with pytest.raises(errors.StackValidationFailed, match='missing "type"'):
        _parse("resources:\n  a: {properties: {}}\n")
    with pytest.raises(errors.StackValidationFailed, match='"propertes" is not a valid keyword'):
        _parse("resources:\n  a: {type: OS::Heat::WaitConditionHandle, propertes: {}}\n")
    with pytest.raises(errors.StackValidationFailed, match="must contain a value"):
        _parse("outputs:\n  x: {description: no value}\n")


def test_unknown_type_and_properties() -> None:
    with pytest.raises(errors.StackValidationFailed, match=r"Resource Type \(OS::Foo\)"):
        _validate("resources:\n  a: {type: 'OS::Foo'}\n")
    with pytest.raises(errors.StackValidationFailed, match="Unknown Property colour"):
        _validate("resources:\n  v: {type: OS::Cinder::Volume, properties: {colour: red}}\n")
    with pytest.raises(errors.StackValidationFailed, match=r"s\.properties: Property fl"):
        _validate("resources:\n  s: {type: OS::Nova::Server, properties: {image: x}}\n")
    with pytest.raises(errors.StackValidationFailed, match="not a valid integer"):
        _validate("resources:\n  v: {type: OS::Cinder::Volume, properties: {size: big}}\n")


def test_references_are_checked() -> None:
    text = "resources:\n  w: {type: OS::Heat::WaitCondition, properties: %s}\n"
    with pytest.raises(errors.InvalidTemplateReference, match=r'"nope" \(in w.Properties\)'):
        _validate(text % "{handle: {get_resource: nope}, timeout: 5}")
    with pytest.raises(errors.InvalidTemplateReference, match='"ghost"'):
        _validate("resources:\n  h: {type: OS::Heat::WaitConditionHandle, depends_on: ghost}\n")
    with pytest.raises(errors.StackValidationFailed, match=r"Parameter \(p\) was not defined"):
        _validate(text % "{handle: {get_param: p}, timeout: 5}")
    with pytest.raises(errors.InvalidTemplateAttribute, match=r"\(h colour\)"):
        _validate(
            "resources:\n  h: {type: OS::Heat::WaitConditionHandle}\n"
            "outputs:\n  o: {value: {get_attr: [h, colour]}}\n"
        )
    with pytest.raises(errors.StackValidationFailed, match="out of range"):
        _validate(
            "resources:\n  h: {type: OS::Heat::WaitConditionHandle}\n"
            "  w: {type: OS::Heat::WaitCondition, properties: {handle: {get_resource: h}, "
            "timeout: 0}}\n"
        )


def test_function_syntax_is_checked() -> None:
    head = "resources:\n  h: {type: OS::Heat::WaitConditionHandle}\noutputs:\n  o: {value: %s}\n"
    for bad, match in [
        ("{get_attr: h}", "get_attr"),
        ("{get_resource: [h]}", "get_resource"),
        ("{str_replace: {template: x}}", "str_replace"),
        ("{str_replace: {template: x, params: [1]}}", "params must be a map"),
        ("{list_join: [',']}", "list_join"),
        ("{get_param: []}", "get_param"),
    ]:
        with pytest.raises(errors.StackValidationFailed, match=match):
            _validate(head % bad)


def test_valid_template_passes() -> None:
    template = _validate(
        "parameters:\n  n: {type: number, default: 2}\n"
        "resources:\n"
        "  h: {type: OS::Heat::WaitConditionHandle}\n"
        "  w:\n    type: OS::Heat::WaitCondition\n"
        "    properties: {handle: {get_resource: h}, count: {get_param: n}, timeout: 60}\n"
        "outputs:\n  data: {value: {get_attr: [w, data]}, description: d}\n"
    )
    assert list(template.resources) == ["h", "w"]
    assert template.outputs["data"].description == "d"


# --- parameters -------------------------------------------------------------------------


def _param(spec: str) -> Parameter:
    return _parse(f"parameters:\n  p: {spec}\n").parameters["p"]


def test_parameter_types() -> None:
    assert _param("{type: number}").coerce("3") == 3
    assert _param("{type: number}").coerce("2.5") == 2.5
    with pytest.raises(errors.StackValidationFailed, match="Parameter 'p' is invalid"):
        _param("{type: number}").coerce("many")
    assert _param("{type: string}").coerce(5) == "5"
    assert _param("{type: comma_delimited_list}").coerce("a, b,c") == ["a", "b", "c"]
    assert _param("{type: comma_delimited_list}").coerce(["a"]) == ["a"]
    assert _param("{type: json}").coerce('{"a": [1]}') == {"a": [1]}
    with pytest.raises(errors.StackValidationFailed, match="JSON"):
        _param("{type: json}").coerce("{oops")
    assert _param("{type: boolean}").coerce("yes") is True
    assert _param("{type: boolean}").coerce("false") is False
    with pytest.raises(errors.StackValidationFailed, match="acceptable values"):
        _param("{type: boolean}").coerce("maybe")
    with pytest.raises(errors.StackValidationFailed, match=r"Invalid type \(text\)"):
        _param("{type: text}")
    with pytest.raises(errors.StackValidationFailed, match="Missing parameter type"):
        _param("{default: 1}")


def test_parameter_constraints() -> None:
    length = _param("{type: string, constraints: [{length: {min: 2, max: 4}}]}")
    assert length.coerce("abc") == "abc"
    with pytest.raises(errors.StackValidationFailed, match="range 2 to 4"):
        length.coerce("abcdef")
    ranged = _param("{type: number, constraints: [{range: {min: 1}}]}")
    with pytest.raises(errors.StackValidationFailed, match="0 is out of range"):
        ranged.coerce(0)
    allowed = _param("{type: string, constraints: [{allowed_values: [m1.small, m1.large]}]}")
    with pytest.raises(errors.StackValidationFailed, match=r'"m1\.huge" is not an allowed value'):
        allowed.coerce("m1.huge")
    pattern = _param(
        "{type: string, constraints: [{allowed_pattern: '[a-z]+', description: lower only}]}"
    )
    assert pattern.coerce("abc") == "abc"
    with pytest.raises(errors.StackValidationFailed, match="Parameter 'p' is invalid: lower only"):
        pattern.coerce("abc1")
    custom = _param("{type: string, constraints: [{custom_constraint: nova.flavor}]}")
    assert custom.coerce("anything") == "anything"
    with pytest.raises(errors.StackValidationFailed, match="out of range"):
        _param("{type: number, default: 0, constraints: [{range: {min: 1}}]}")


def test_resolve_parameters() -> None:
    template = _parse(
        "parameters:\n"
        "  need: {type: string}\n"
        "  count: {type: number, default: 1}\n"
        "  secret: {type: string, hidden: true, default: s3cret}\n"
    )
    with pytest.raises(errors.UserParameterMissing, match=r"The Parameter \(need\) was not"):
        template.resolve_parameters({})
    with pytest.raises(errors.UnknownUserParameter, match=r"\(extra\)"):
        template.resolve_parameters({"need": "x", "extra": 1})
    values = template.resolve_parameters({"need": "x", "count": "4"})
    assert values == {"need": "x", "count": 4, "secret": "s3cret"}
    assert template.parameters["secret"].shown("s3cret") == "******"
    assert template.parameters["count"].shown(4) == "4"


# --- intrinsic functions ----------------------------------------------------------------


def test_get_param_with_path_and_pseudo_parameters() -> None:
    ctx = FakeStack({"net": {"ids": ["a", "b"]}, "OS::stack_name": "s", "name": "n"})
    assert resolve({"get_param": "name"}, ctx) == "n"
    assert resolve({"get_param": ["net", "ids", 1]}, ctx) == "b"
    assert resolve({"get_param": "OS::stack_name"}, ctx) == "s"
    with pytest.raises(errors.StackValidationFailed, match='"x" not found'):
        resolve({"get_param": ["net", "x"]}, ctx)


def test_get_resource_and_get_attr() -> None:
    ctx = FakeStack(
        {"attr": "first_address"},
        refs={"server": "uuid-1"},
        attrs={("server", "networks"): {"private": ["10.0.0.5"]},
               ("server", "first_address"): "10.0.0.5"},
    )  # fmt: skip
    assert resolve({"get_resource": "server"}, ctx) == "uuid-1"
    assert resolve({"get_attr": ["server", "networks", "private", 0]}, ctx) == "10.0.0.5"
    assert resolve({"get_attr": ["server", {"get_param": "attr"}]}, ctx) == "10.0.0.5"


def test_str_replace() -> None:
    ctx = FakeStack({"host": "web", "port": 8080})
    value = {
        "str_replace": {
            "template": "http://$host:$port/$host_name?$json",
            "params": {
                "$host": {"get_param": "host"},
                "$host_name": "long-wins",
                "$port": {"get_param": "port"},
                "$json": {"a": 1},
            },
        }
    }
    assert resolve(value, ctx) == 'http://web:8080/long-wins?{"a": 1}'
    # one pass: a replacement is never replaced again
    again = {"str_replace": {"template": "AB", "params": {"A": "B", "B": "C"}}}
    assert resolve(again, ctx) == "BC"


def test_list_join() -> None:
    ctx = FakeStack({"names": ["a", "b"]})
    assert resolve({"list_join": [",", {"get_param": "names"}, ["c", 1]]}, ctx) == "a,b,c,1"
    assert resolve({"list_join": ["-", []]}, ctx) == ""
    with pytest.raises(errors.StackValidationFailed, match="must be lists"):
        resolve({"list_join": [",", 5]}, ctx)


def test_nested_functions_and_references() -> None:
    value = {
        "user_data": {
            "str_replace": {
                "template": "run $cmd",
                "params": {"$cmd": {"get_attr": ["handle", "curl_cli"]}},
            }
        },
        "networks": [{"port": {"get_resource": "port"}}],
        "plain": {"get_file": "not a function we know"},
    }
    assert references(value) == {"handle", "port"}
    ctx = FakeStack({}, refs={"port": "p-1"}, attrs={("handle", "curl_cli"): "curl x"})
    assert resolve(value, ctx) == {
        "user_data": "run curl x",
        "networks": [{"port": "p-1"}],
        "plain": {"get_file": "not a function we know"},
    }
