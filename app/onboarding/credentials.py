"""The new App's credentials as GitHub's manifest conversion answers them:
checked before anything is written, and never shown by `repr`. Pure."""

from __future__ import annotations

import dataclasses
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from app.config import ConfigError, parse_dotenv
from app.onboarding.env_file import quote_value

ENV_KEYS = (
    "GITHUB_APP_ID",
    "GITHUB_APP_SLUG",
    "GITHUB_PRIVATE_KEY",
    "GITHUB_WEBHOOK_SECRET",
    "GITHUB_CLIENT_ID",
    "GITHUB_CLIENT_SECRET",
)


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What GitHub's conversion answers, checked; `repr` shows no secret."""

    app_id: int
    slug: str
    name: str
    html_url: str
    pem: str = dataclasses.field(repr=False)
    webhook_secret: str | None = dataclasses.field(repr=False)
    client_id: str
    client_secret: str = dataclasses.field(repr=False)

    def env(self) -> dict[str, str]:
        values = {
            "GITHUB_APP_ID": str(self.app_id),
            "GITHUB_APP_SLUG": self.slug,
            "GITHUB_PRIVATE_KEY": self.pem,
            "GITHUB_WEBHOOK_SECRET": self.webhook_secret or "",
            "GITHUB_CLIENT_ID": self.client_id,
            "GITHUB_CLIENT_SECRET": self.client_secret,
        }
        return {k: v for k, v in values.items() if v}


def parse_conversion(answer: Any) -> Credentials:
    """Check the conversion's answer (`POST /app-manifests/{code}/conversions`,
    201) before anything is written: a wrong shape is GitHub's problem, not a
    half-written `.env`."""
    if not isinstance(answer, dict):
        raise ValueError("the answer is not a JSON object")
    app_id = answer.get("id")
    if not isinstance(app_id, int) or isinstance(app_id, bool) or app_id <= 0:
        raise ValueError("the answer has no App id")
    for key in ("slug", "pem", "client_id", "client_secret"):
        if not isinstance(answer.get(key), str) or not answer[key]:
            raise ValueError(f"the answer has no {key}")
    secret = answer.get("webhook_secret")
    if secret is not None and not isinstance(secret, str):
        raise ValueError("the answer's webhook_secret is not a string")
    html_url = answer.get("html_url") or ""
    if html_url and not (
        isinstance(html_url, str) and html_url.startswith(("https://", "http://"))
    ):
        # It becomes the success page's "install the App" link: no javascript: URL.
        raise ValueError("the answer's html_url is not an http(s) URL")
    try:
        key = load_pem_private_key(answer["pem"].encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("the answer's pem is not a private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the answer's pem is not an RSA key")
    creds = Credentials(
        app_id=app_id,
        slug=answer["slug"],
        name=str(answer.get("name") or answer["slug"]),
        html_url=html_url,
        pem=answer["pem"],
        webhook_secret=secret or None,
        client_id=answer["client_id"],
        client_secret=answer["client_secret"],
    )
    for name, value in creds.env().items():
        if not _survives_env(name, value):
            raise ValueError(f"the answer's {name} cannot be written to .env as it is")
    return creds


def _survives_env(name: str, value: str) -> bool:
    """Whether `value` comes back from `.env` exactly as written: a quote, a
    backslash or a line break `str.splitlines` knows would corrupt the file or
    change the value by the next start."""
    try:
        return parse_dotenv(f"{name}={quote_value(value)}\n").get(name) == value
    except (ValueError, ConfigError):
        return False
