"""`cloudhp registry info | login | logout`: parse, call `cloudhp.flows.registry`, print."""

from __future__ import annotations

import click

from cloudhp.cli.options import cluster_option, files_of
from cloudhp.cli.output import emit, output_option


@click.group()
def registry() -> None:
    """The cluster registry: where it is, and `docker login` to it from this machine."""


@registry.command()
@cluster_option
@output_option
def info(cluster: str | None, output: str) -> None:
    """Address, the node holding the registry's volume, repository prefix, user name and
    password file (0600) of the registry."""
    from cloudhp.flows.nodes import open_nodes
    from cloudhp.flows.registry import registry_access

    with open_nodes(files_of(cluster)) as nodes:
        access = registry_access(nodes)

    def text() -> None:
        click.echo(f"address            {access.address}")
        click.echo(f"on node            {access.node} ({access.node_ip})")
        click.echo(f"repository prefix  {access.repository_prefix}")
        click.echo(f"user name          {access.username}")
        click.echo(f"password file      {access.password_file}")
        click.echo(f"CA certificate     {access.ca_file}")

    emit(output, access.to_dict(), text)


@registry.command()
@cluster_option
@output_option
def login(cluster: str | None, output: str) -> None:
    """Point the registry's name at its node in this machine's /etc/hosts, trust its CA
    in this machine's Docker engine and `docker login` to it (the password goes on
    stdin); `docker push <prefix>...` then works by hand. A move of the registry's
    volume rewrites that line, and so does login again."""
    from cloudhp.flows.nodes import open_nodes
    from cloudhp.flows.registry import login_bastion, registry_access

    with open_nodes(files_of(cluster)) as nodes:
        access = registry_access(nodes)
    done = login_bastion(access)
    emit(output, done, lambda: click.echo(f"logged in to {access.address} as {access.username}"))


@registry.command()
@cluster_option
@output_option
def logout(cluster: str | None, output: str) -> None:
    """`docker logout`, and remove the registry's CA and hosts line from this machine."""
    from cloudhp.flows.nodes import open_nodes
    from cloudhp.flows.registry import logout_bastion, registry_access

    with open_nodes(files_of(cluster)) as nodes:
        access = registry_access(nodes)
    done = logout_bastion(access)
    emit(output, done, lambda: click.echo(f"logged out of {access.address}"))
