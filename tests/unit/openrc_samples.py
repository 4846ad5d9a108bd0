"""openrc files as Horizon and people write them, for the openrc and credentials tests."""

from __future__ import annotations

PASSWORD = "Sup3r-s3cret!pw"

# Horizon's openrc.sh template (v3), as downloaded from "API Access".
HORIZON_OPENRC = """\
#!/usr/bin/env bash
# To use an OpenStack cloud you need to authenticate against the Identity
# service named keystone, which returns a **Token** and **Service Catalog**.
export OS_AUTH_URL=https://keystone.example.org:5000/v3
# With the addition of Keystone we have standardized on the term **project**
export OS_PROJECT_ID=0123456789abcdef
export OS_PROJECT_NAME="Project 3"
export OS_USER_DOMAIN_NAME="Default"
if [ -z "$OS_USER_DOMAIN_NAME" ]; then unset OS_USER_DOMAIN_NAME; fi
export OS_PROJECT_DOMAIN_ID="default"
if [ -z "$OS_PROJECT_DOMAIN_ID" ]; then unset OS_PROJECT_DOMAIN_ID; fi
# unset v2.0 items in case set
unset OS_TENANT_ID
unset OS_TENANT_NAME
# In addition to the owning entity (tenant), OpenStack stores the entity
# performing the action as the **user**.
export OS_USERNAME="alice"
# With Keystone you pass the keystone password.
echo "Please enter your OpenStack Password for project $OS_PROJECT_NAME as user $OS_USERNAME: "
read -sr OS_PASSWORD_INPUT
export OS_PASSWORD=$OS_PASSWORD_INPUT
# If your configuration has multiple regions, we set that information here.
# OS_REGION_NAME is optional and only valid in certain environments.
export OS_REGION_NAME="RegionOne"
# Don't leave a blank variable, unset it if it was empty
if [ -z "$OS_REGION_NAME" ]; then unset OS_REGION_NAME; fi
export OS_INTERFACE=public
export OS_IDENTITY_API_VERSION=3
"""

PLAIN_OPENRC = f"""\
export OS_AUTH_URL=https://keystone.example.org:5000/v3
export OS_USERNAME=bob
export OS_PASSWORD='{PASSWORD}'
export OS_PROJECT_NAME=demo
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
"""

AUTH_URL_LINE = "export OS_AUTH_URL=http://k:5000/v3\n"
