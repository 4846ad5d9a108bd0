"""The whole local cloud in this process, for API tests that need no Docker engine.

`api` is create_app over every registered service on a fresh data dir, driven with
Flask's test client; it gets tokens the way clients do, from the seeded demo and
admin users' passwords in the data dir's clouds.yaml. Whatever would reach Docker or
the loop devices is the test's to replace (monkeypatch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient

from cloudhp_localcloud.app import create_app
from cloudhp_localcloud.config import LocalCloudConfig, read_clouds_yaml
from cloudhp_localcloud.store import Store, current_store


@dataclass
class Api:
    client: FlaskClient
    config: LocalCloudConfig

    def _password(self, user: str) -> str:
        clouds = read_clouds_yaml(self.config.credentials_path)["clouds"]
        return next(c["auth"]["password"] for c in clouds.values() if c["auth"]["username"] == user)

    def token(self, user: str = "demo", scope: Any = None) -> tuple[str, dict[str, Any]]:
        """A token of `user` and its body; `scope` None: the user's own project."""
        if scope is None:
            scope = {"project": {"name": user, "domain": {"id": "default"}}}
        identity = {
            "methods": ["password"],
            "password": {
                "user": {
                    "name": user,
                    "domain": {"id": "default"},
                    "password": self._password(user),
                }
            },
        }
        resp = self.client.post(
            "/identity/v3/auth/tokens", json={"auth": {"identity": identity, "scope": scope}}
        )
        assert resp.status_code == 201, resp.get_json()
        return resp.headers["X-Subject-Token"], resp.get_json()["token"]

    def headers(self, user: str = "demo", scope: Any = None) -> dict[str, str]:
        return {"X-Auth-Token": self.token(user, scope)[0]}

    def project_id(self, user: str = "demo") -> str:
        return self.token(user)[1]["project"]["id"]

    def store(self) -> Store:
        with self.client.application.app_context():
            return current_store()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Api:
    config = LocalCloudConfig(data_dir=tmp_path_factory.mktemp("localcloud"))
    return Api(client=create_app(config).test_client(), config=config)
