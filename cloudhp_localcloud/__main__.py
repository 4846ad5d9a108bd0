"""`python -m cloudhp_localcloud`: the server process that `cloudhp localcloud up` spawns."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from cloudhp_localcloud.config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_TOKEN_LIFETIME,
    LocalCloudConfig,
    default_build_latency,
    default_faults_path,
)
from cloudhp_localcloud.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cloudhp_localcloud")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--public-url", default=None)
    parser.add_argument("--token-lifetime", type=int, default=DEFAULT_TOKEN_LIFETIME)
    parser.add_argument("--faults", type=Path, default=default_faults_path())
    parser.add_argument("--build-latency", type=float, default=default_build_latency())
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    serve(
        LocalCloudConfig(
            data_dir=args.data_dir,
            host=args.host,
            port=args.port,
            public_url=args.public_url,
            token_lifetime=args.token_lifetime,
            faults_path=args.faults,
            build_latency=args.build_latency,
        )
    )


if __name__ == "__main__":
    main()
