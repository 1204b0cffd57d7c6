"""The redis_prefix fixture of the channel tests (imported by them: a conftest.py here would shadow
tests/conftest.py, which other modules import by name): a fresh Redis key prefix in db 15, and only
that prefix is removed."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest
import redis

REDIS_DB = 15


def redis_running() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(name="redis_prefix")
def redis_prefix_fixture() -> Iterator[str]:
    """``yibaotest<hex>:channel:``, the shape channels.state gives a lock store prefix ``yibaotest<hex>``."""
    if not redis_running():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    prefix = f"yibaotest{uuid.uuid4().hex[:8]}:channel:"
    yield prefix
    client = redis.Redis(db=REDIS_DB)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
