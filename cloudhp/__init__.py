"""cloudhp: a Docker Swarm on OpenStack, from one command on a bastion."""

__version__ = "0.1.0"
