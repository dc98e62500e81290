"""Tokens: created once (the plain token is shown only then), stored as sha256 hashes, checked per request."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from kibako.core.clock import Clock, from_ms
from kibako.core.ids import new_id
from kibako.core.wire import ROLE_RANK, admin, wire_type
from kibako.errors import NotFoundError, ValidationError
from kibako.store import schema

TOKEN_PREFIX = "kb_"


@wire_type
@dataclass(frozen=True)
class TokenInfo:
    id: str
    name: str
    role: str
    created: datetime
    revoked: bool = False


@wire_type
@dataclass(frozen=True)
class NewToken:
    """A token just made: ``token`` is the secret, shown this once and never stored."""

    info: TokenInfo
    token: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenService:
    def __init__(self, store: Any, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    @admin
    def create_token(self, role: str, name: str = "") -> NewToken:
        """A new token with ``role`` (viewer: read; editor: read and write; admin: also manage tokens)."""
        if role not in ROLE_RANK:
            raise ValidationError(f"role must be one of {', '.join(ROLE_RANK)}, not {role!r}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = new_id()
        now = self.clock.time_ms()
        label = name or f"{role}-{token_id[-6:]}"
        with self.store.write() as tx:
            tx.execute(
                insert(schema.tokens).values(
                    id=token_id, name=label, role=role, token_hash=hash_token(token), created_ms=now
                )
            )
        return NewToken(TokenInfo(token_id, label, role, from_ms(now)), token)

    @admin
    def list_tokens(self) -> list[TokenInfo]:
        t = schema.tokens
        with self.store.read() as conn:
            rows = conn.execute(select(t).order_by(t.c.created_ms)).mappings().all()
        return [
            TokenInfo(
                r["id"],
                r["name"],
                r["role"],
                from_ms(r["created_ms"]),
                r["revoked_ms"] is not None,
            )
            for r in rows
        ]

    @admin
    def revoke_token(self, token_id: str) -> None:
        t = schema.tokens
        with self.store.write() as tx:
            done = tx.execute(
                update(t)
                .where(t.c.id == token_id, t.c.revoked_ms.is_(None))
                .values(revoked_ms=self.clock.time_ms())
            )
            if done.rowcount == 0:
                raise NotFoundError(f"no active token with id {token_id!r}")

    def authenticate(self, token: str) -> str | None:
        """The role of ``token``, or None when it is unknown or revoked."""
        found = self.identify(token)
        return None if found is None else found[0]

    def identify(self, token: str) -> tuple[str, str] | None:
        """``(role, name)`` of ``token`` (its id when it has no name), or None when unknown or revoked."""
        t = schema.tokens
        with self.store.read() as conn:
            row = conn.execute(
                select(t.c.role, t.c.name, t.c.id).where(
                    t.c.token_hash == hash_token(token), t.c.revoked_ms.is_(None)
                )
            ).first()
        return None if row is None else (str(row.role), str(row.name or row.id))

    def first_admin_token(self) -> NewToken | None:
        """On a store with no tokens at all, make the first admin token; otherwise None."""
        with self.store.read() as conn:
            if conn.execute(select(func.count()).select_from(schema.tokens)).scalar():
                return None
        return self.create_token("admin", "first-admin")
