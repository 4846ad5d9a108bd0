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
    """Address, repository prefix, user name and password file (0600) of the registry."""
    from cloudhp.flows.nodes import open_nodes
    from cloudhp.flows.registry import registry_access

    with open_nodes(files_of(cluster)) as nodes:
        access = registry_access(nodes)

    def text() -> None:
        click.echo(f"address            {access.address}")
        click.echo(f"repository prefix  {access.repository_prefix}")
        click.echo(f"user name          {access.username}")
        click.echo(f"password file      {access.password_file}")
        click.echo(f"CA certificate     {access.ca_file}")

    emit(output, access.to_dict(), text)


@registry.command()
@cluster_option
@output_option
def login(cluster: str | None, output: str) -> None:
    """Trust the registry's CA in this machine's Docker engine and `docker login` to it
    (the password goes on stdin); `docker push <prefix>...` then works by hand."""
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
    """`docker logout` and remove the registry's CA from this machine's engine."""
    from cloudhp.flows.nodes import open_nodes
    from cloudhp.flows.registry import logout_bastion, registry_access

    with open_nodes(files_of(cluster)) as nodes:
        access = registry_access(nodes)
    done = logout_bastion(access)
    emit(output, done, lambda: click.echo(f"logged out of {access.address}"))
