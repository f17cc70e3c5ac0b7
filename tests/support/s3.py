"""moto's S3 server over real HTTP, started and stopped by the tests."""

from __future__ import annotations

import socket
import uuid

import boto3
from moto.server import ThreadedMotoServer

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class S3Server:
    """A moto server on a fixed port that can be stopped and started again (a blink)."""

    def __init__(self) -> None:
        # moto keeps its buckets in process memory across servers: one bucket per server.
        self.bucket = f"recordings-{uuid.uuid4().hex[:12]}"
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server: ThreadedMotoServer | None = None

    def start(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client(self):
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1", **CREDENTIALS
        )

    def storage_settings(self) -> dict:
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": self.bucket,
                "endpoint_url": self.endpoint,
                "region_name": "us-east-1",
                "access_key": CREDENTIALS["aws_access_key_id"],
                "secret_key": CREDENTIALS["aws_secret_access_key"],
                "addressing_style": "path",
                "querystring_expire": 60,
                "signature_version": "s3v4",
                "file_overwrite": False,
                "default_acl": None,
            },
        }
