"""How to reach Redis: the TLS options of a ``rediss://`` URL, and a check before the
server starts. Platforms give ``rediss://`` with a certificate of their own CA, often
self-signed; the options say how to trust it, and the check turns a refusal into one line
naming the URL and the reason instead of a traceback from the server's startup."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis
from redis.exceptions import RedisError

from coordinator.state.base import StoreError


def tls_options(url: str, ca_file: Path | None, no_verify: bool) -> dict[str, Any]:
    """redis-py's options for a ``rediss://`` URL: verify against ``ca_file`` (a platform's
    own CA, the host name checked too), or, with ``no_verify``, encrypt without checking the
    certificate; nothing extra by default (the system's CAs). Nothing for ``redis://``."""
    if not url.startswith("rediss://"):
        return {}
    if no_verify:
        return {"ssl_cert_reqs": "none", "ssl_check_hostname": False}
    if ca_file is not None:
        return {
            "ssl_ca_certs": str(ca_file),
            "ssl_cert_reqs": "required",
            "ssl_check_hostname": True,
        }
    return {}


def verify(url: str, tls: Mapping[str, Any]) -> None:
    """Check that Redis answers, before the server starts: raises :class:`StoreError` naming
    the URL (without its password) and the reason, e.g. a certificate that does not verify.
    (The same failure inside the server's startup would end in a traceback.)"""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2, **tls)
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        raise StoreError(f"cannot reach Redis at {safe_url(url)}: {exc}") from None
    finally:
        client.close()


def safe_url(url: str) -> str:
    """The Redis URL without its password, for messages and logs."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
