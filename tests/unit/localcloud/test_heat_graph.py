"""Dependency order and cycle detection."""

from __future__ import annotations

import pytest

from cloudhp_localcloud.orchestration import errors
from cloudhp_localcloud.orchestration.graph import (
    creation_order,
    deletion_order,
    dependencies,
    required_by,
    topological,
)
from cloudhp_localcloud.orchestration.resources import lookup
from cloudhp_localcloud.orchestration.template import Template

STACK = """
heat_template_version: 2018-08-31
resources:
  fip:
    type: OS::Neutron::FloatingIP
    properties: {floating_network: public, port_id: {get_resource: port}}
  port:
    type: OS::Neutron::Port
    properties: {network: private, security_groups: [{get_resource: sg}]}
  sg:
    type: OS::Neutron::SecurityGroup
  volume:
    type: OS::Cinder::Volume
    properties: {size: 1}
  handle:
    type: OS::Heat::WaitConditionHandle
  server:
    type: OS::Nova::Server
    properties:
      flavor: m1.small
      networks: [{port: {get_resource: port}}]
      user_data: {get_attr: [handle, curl_cli]}
  wait:
    type: OS::Heat::WaitCondition
    depends_on: volume
    properties: {handle: {get_resource: handle}, timeout: 60}
"""


def test_dependencies_from_functions_and_depends_on() -> None:
    deps = dependencies(Template.parse(STACK))
    assert deps == {
        "fip": {"port"},
        "port": {"sg"},
        "sg": set(),
        "volume": set(),
        "handle": set(),
        "server": {"port", "handle"},
        "wait": {"handle", "volume"},
    }
    assert required_by(deps)["port"] == {"fip", "server"}


def test_creation_and_deletion_order() -> None:
    template = Template.parse(STACK)
    order = creation_order(template)
    assert sorted(order) == sorted(template.resources)
    for name, needs in dependencies(template).items():
        assert all(order.index(n) < order.index(name) for n in needs)
    assert deletion_order(template) == list(reversed(order))
    # ties keep template order
    assert order[:3] == ["sg", "volume", "handle"]


def test_cycles_are_reported_with_their_members() -> None:
    with pytest.raises(errors.CircularDependency, match="Circular Dependency Found: a, b, a"):
        topological({"a": {"b"}, "b": {"a"}, "c": set()})
    with pytest.raises(errors.CircularDependency, match="x, x"):
        topological({"x": {"x"}})
    cyclic = """
heat_template_version: 2018-08-31
resources:
  h1: {type: OS::Heat::WaitConditionHandle, depends_on: [h2]}
  h2: {type: OS::Heat::WaitConditionHandle, depends_on: [h3]}
  h3: {type: OS::Heat::WaitConditionHandle, depends_on: [h1]}
"""
    template = Template.parse(cyclic)
    with pytest.raises(errors.CircularDependency, match="h1, h2, h3, h1"):
        template.validate(lookup)


def test_unknown_names_are_ignored_by_the_sort() -> None:
    assert topological({"a": {"elsewhere"}, "b": {"a"}}) == ["a", "b"]
