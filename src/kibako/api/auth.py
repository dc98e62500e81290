"""Bearer tokens on every request: viewers read, editors also write, admins also manage tokens."""

from __future__ import annotations

from fastapi import Request

from kibako.core.wire import ROLE_RANK
from kibako.errors import AuthError, PermissionDeniedError


def require_role(request: Request, needed: str) -> str:
    """The caller's role, if it is at least ``needed``; AuthError or PermissionDeniedError otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("this server needs a bearer token (header 'Authorization: Bearer <token>')")
    found = request.app.state.services.tokens.identify(token.strip())
    if found is None:
        raise AuthError("the token is unknown or revoked")
    role, name = found
    request.state.caller = f"token:{name}"  # who the audit trails name for this request
    if ROLE_RANK[role] < ROLE_RANK[needed]:
        raise PermissionDeniedError(
            f"{_article(role)} {role} token cannot do this; it needs {_article(needed)} {needed} token"
        )
    return role


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"
