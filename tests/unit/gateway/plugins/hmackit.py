"""A client-side HMAC signer for the hmac-auth tests, written from Kong's documented format
(independent of the plugin's own ``signature`` module, so the two check each other)."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import time

DIGESTS = {
    "hmac-sha1": hashlib.sha1,
    "hmac-sha256": hashlib.sha256,
    "hmac-sha384": hashlib.sha384,
    "hmac-sha512": hashlib.sha512,
}


def http_date(offset: float = 0.0) -> str:
    return email.utils.formatdate(time.time() + offset, usegmt=True)


def body_digest(body: bytes) -> str:
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def signed_headers(
    username: str,
    secret: str,
    *,
    method: str = "GET",
    target: str = "/",
    headers: dict[str, str] | None = None,
    names: list[str] | None = None,
    algorithm: str = "hmac-sha256",
    version: str = "1.1",
    header_name: str = "Authorization",
) -> dict[str, str]:
    """``headers`` plus a ``Date`` (unless given) and the signature header over ``names``."""
    out = dict(headers or {})
    if not any(k.lower() in ("date", "x-date") for k in out):
        out["Date"] = http_date()
    names = names if names is not None else ["date", "request-line"]
    lower = {k.lower(): v for k, v in out.items()}
    lines = []
    for name in names:
        key = name.lower().replace("_", "-")  # Kong's header lookup: "_" stands for "-"
        if key in lower:
            lines.append(f"{name}: {lower[key]}")
        elif name == "@request-target":
            lines.append(f"@request-target: {method.lower()} {target}")
        elif name == "request-line":
            lines.append(f"{method} {target} HTTP/{version}")
        else:
            lines.append(f"{name}:")
    mac = hmac.new(secret.encode(), "\n".join(lines).encode(), DIGESTS[algorithm]).digest()
    signature = base64.b64encode(mac).decode()
    out[header_name] = (
        f'hmac username="{username}", algorithm="{algorithm}", '
        f'headers="{" ".join(names)}", signature="{signature}"'
    )
    return out
