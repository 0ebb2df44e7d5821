"""Sign in with Slack (OpenID Connect), as slack.com serves it.

- `GET /openid/connect/authorize?response_type=code&scope=openid…&client_id=…&state=…&nonce=…&redirect_uri=…`
  is the page where a person approves the app. Here the person is whoever the test
  signed in (`sign_in_as`); with nobody signed in the page lists the workspace's people
  as links (`&as=U…`), so a browser can pick one. Approval redirects to `redirect_uri`
  with `code` and `state`, exactly as Slack does.
- `openid.connect.token` trades the code (once, with the app's client id and secret and
  the same redirect_uri) for a user token and an RS256-signed `id_token`.
- `openid.connect.userInfo` answers for that user token.
- `GET /openid/connect/keys` publishes the signing key as a JWKS, as
  https://slack.com/openid/connect/keys does.

Errors are Slack's: `invalid_client_id`, `bad_client_secret`, `invalid_code`,
`bad_redirect_uri`, `invalid_auth`.
"""

from __future__ import annotations

import html
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .records import SlackError
from .workspace import Workspace

ISSUER = "https://slack.com"
ID_TOKEN_LIFETIME = 3600


@dataclass
class _Grant:
    workspace: Workspace
    user_id: str
    client_id: str
    redirect_uri: str
    nonce: str | None
    scope: str


class OpenIDProvider:
    def __init__(self, clients: dict[str, str]) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        # The OAuth apps' credentials (client_id -> client_secret), shared with oauth.v2.access.
        self.clients = clients
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = "sim-" + secrets.token_hex(4)
        self._codes: dict[str, _Grant] = {}
        self._tokens: dict[str, _Grant] = {}
        # Who is signed in to slack.com in "the browser": (workspace, user id), or None.
        self.signed_in: tuple[Workspace, str] | None = None
        # When set, id_tokens carry this nonce instead of the one asked for (a forgery test).
        self.nonce_override: str | None = None

    def sign_in_as(self, workspace: Workspace, user_id: str) -> None:
        self.signed_in = (workspace, user_id)

    # -- the browser's side ------------------------------------------------------------

    def authorize(self, query: str, workspaces: list[Workspace]) -> tuple[int, Any, dict[str, str]]:
        params = dict(parse_qsl(query, keep_blank_values=True))
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        scopes = set(params.get("scope", "").replace(",", " ").split())
        if client_id not in self.clients:
            return 400, "invalid_client_id: this app is not known to Slack", {}
        if not redirect_uri.startswith(("http://", "https://")):
            return 400, "bad_redirect_uri: redirect_uri must be an http(s) URL", {}
        if params.get("response_type") != "code" or "openid" not in scopes:
            return _redirect(redirect_uri, {"error": "invalid_scope", "state": params.get("state", "")})
        chosen = params.get("as")
        who = self.signed_in
        if chosen:
            ws = next((w for w in workspaces if chosen in w.users), None)
            who = (ws, chosen) if ws is not None else None
        if who is None:
            return 200, _chooser_page(query, workspaces), {"Content-Type": "text/html; charset=utf-8"}
        workspace, user_id = who
        code = f"oidc.{workspace.team_id}.{secrets.token_hex(8)}"
        self._codes[code] = _Grant(workspace, user_id, client_id, redirect_uri, params.get("nonce") or None, " ".join(sorted(scopes)))
        return _redirect(redirect_uri, {"code": code, "state": params.get("state", "")})

    def jwks(self) -> dict[str, Any]:
        from jwt.algorithms import RSAAlgorithm

        jwk = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        jwk.update({"kid": self.key_id, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}

    # -- the app's side (Web API methods) ----------------------------------------------

    def token(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        client_id, client_secret = str(p.get("client_id") or ""), str(p.get("client_secret") or "")
        if client_id not in self.clients:
            raise SlackError("invalid_client_id")
        if client_secret != self.clients[client_id]:
            raise SlackError("bad_client_secret")
        code = str(p.get("code") or "")
        grant = self._codes.get(code)
        if grant is None or grant.client_id != client_id:
            raise SlackError("invalid_code")
        if str(p.get("redirect_uri") or "") != grant.redirect_uri:
            raise SlackError("bad_redirect_uri")
        del self._codes[code]  # a code works once
        access_token = "xoxp-" + secrets.token_hex(12)
        self._tokens[access_token] = grant
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "id_token": self._id_token(grant, now),
        }

    def user_info(self, token: str | None) -> dict[str, Any]:
        grant = self._tokens.get(token or "")
        if grant is None:
            raise SlackError("invalid_auth")
        return self._claims(grant)

    def _claims(self, grant: _Grant) -> dict[str, Any]:
        ws = grant.workspace
        user = ws.users[grant.user_id]
        return {
            "sub": user.id,
            "https://slack.com/user_id": user.id,
            "https://slack.com/team_id": ws.team_id,
            "https://slack.com/team_name": ws.team_name,
            "https://slack.com/team_domain": ws.team_domain,
            "email": user.email or f"{user.name}@example.com",
            "email_verified": True,
            "name": user.real_name,
            "given_name": user.real_name.split(" ")[0],
            "locale": "en-US",
        }

    def _id_token(self, grant: _Grant, now: float) -> str:
        import jwt

        issued = int(now)
        claims = {"iss": ISSUER, "aud": grant.client_id, "iat": issued, "exp": issued + ID_TOKEN_LIFETIME,
                  "auth_time": issued, **self._claims(grant)}
        nonce = self.nonce_override if self.nonce_override is not None else grant.nonce
        if nonce is not None:
            claims["nonce"] = nonce
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.key_id})


def _redirect(uri: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    parts = urlsplit(uri)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return 302, "", {"Location": urlunsplit(parts._replace(query=query))}


def _chooser_page(query: str, workspaces: list[Workspace]) -> str:
    links = []
    for ws in workspaces:
        for user in ws.users.values():
            if user.is_bot:
                continue
            href = "/openid/connect/authorize?" + query + "&" + urlencode({"as": user.id})
            links.append(f'<li><a id="as-{html.escape(user.id)}" href="{html.escape(href)}">'
                         f"{html.escape(user.real_name)} ({html.escape(ws.team_name)})</a></li>")
    return ("<!doctype html><title>Sign in to Slack (simulator)</title>"
            "<h1>Sign in with Slack</h1><p>Choose who you are:</p><ul>" + "".join(links) + "</ul>")
