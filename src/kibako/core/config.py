"""Configuration read from the environment (see the table in docs/configuration.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class Config:
    home: Path
    database_url: str
    artifact_uri: str
    uri: str | None = None
    token: str | None = None
    executor: str = "local"
    region: str = "us-east-1"
    account: str = "000000000000"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Config:
        """Build the configuration from ``env`` (default ``os.environ``); keyword overrides win."""
        e = os.environ if env is None else env
        raw_home = overrides.pop("home", None) or e.get("KIBAKO_HOME") or "~/.kibako"
        home = Path(str(raw_home)).expanduser().resolve()
        config = cls(
            home=home,
            database_url=e.get("KIBAKO_DATABASE_URL") or f"sqlite:///{home / 'kibako.db'}",
            artifact_uri=_resolve_local(e.get("KIBAKO_ARTIFACT_URI") or str(home / "artifacts")),
            uri=e.get("KIBAKO_URI") or None,
            token=e.get("KIBAKO_TOKEN") or None,
            executor=e.get("KIBAKO_EXECUTOR") or "local",
            region=e.get("KIBAKO_REGION") or "us-east-1",
            account=e.get("KIBAKO_ACCOUNT") or "000000000000",
        )
        return replace(config, **overrides)  # type: ignore[arg-type]

    @property
    def is_remote(self) -> bool:
        return bool(self.uri)


def _resolve_local(uri: str) -> str:
    """A local path made absolute (``~`` expanded); a URL with a scheme (``s3://``) as it is."""
    if "://" in uri:
        return uri
    return str(Path(uri).expanduser().resolve())
