"""People's identity: Sign in with Slack (OpenID Connect) and whether an account is active.

`openid.connect.token` trades the code from Slack's authorize page for a user token and
an id_token, whose RS256 signature is checked against Slack's published keys
(`<slack>/openid/connect/keys`) and whose audience, issuer, expiry and nonce are checked
here; `openid.connect.userInfo` then says who signed in. Failures come back as
`SignInFailed` with words fit for the person's screen (never a token or secret).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack.client import describe_failure

ISSUER = "https://slack.com"
TEAM_CLAIM = "https://slack.com/team_id"
USER_CLAIM = "https://slack.com/user_id"


class SignInFailed(Exception):
    """Sign-in refused; `str()` is safe to show."""


class UserLookupFailed(Exception):
    pass


@dataclass(frozen=True)
class SignedIn:
    user_id: str
    team_id: str
    name: str
    email: str | None


def slack_root(api_url: str) -> str:
    """https://slack.com/api/ -> https://slack.com (the simulator's root likewise)."""
    root = api_url.rstrip("/")
    return root[: -len("/api")] if root.endswith("/api") else root


class OpenIDConnect:
    def __init__(self, *, api_url: str, client_id: str, client_secret: str, timeout: int = 10):
        self.root = slack_root(api_url)
        self.client_id = client_id
        self._client_secret = client_secret
        self._client = WebClient(base_url=api_url, timeout=timeout)
        self._jwks: Any = None

    def authorize_url(self, *, state: str, nonce: str, redirect_uri: str) -> str:
        from urllib.parse import urlencode

        query = urlencode({"response_type": "code", "scope": "openid profile email", "client_id": self.client_id,
                           "state": state, "nonce": nonce, "redirect_uri": redirect_uri})
        return f"{self.root}/openid/connect/authorize?{query}"

    def _signing_key(self, id_token: str) -> Any:
        import jwt

        if self._jwks is None:
            self._jwks = jwt.PyJWKClient(f"{self.root}/openid/connect/keys", cache_keys=True, lifespan=3600, timeout=10)
        return self._jwks.get_signing_key_from_jwt(id_token).key

    def sign_in(self, *, code: str, redirect_uri: str, nonce: str) -> SignedIn:
        import jwt

        try:
            answer = self._client.openid_connect_token(client_id=self.client_id, client_secret=self._client_secret,
                                                       code=code, redirect_uri=redirect_uri)
        except SlackApiError as error:
            raise SignInFailed(f"Slack refused the sign-in ({error.response.get('error')}). Please sign in again.") from None
        except (SlackClientError, OSError) as error:
            raise SignInFailed(f"Slack couldn't be reached to finish the sign-in ({describe_failure(error)}). Please try again.") from None
        id_token, access_token = answer.get("id_token"), answer.get("access_token")
        if not id_token or not access_token:
            raise SignInFailed("Slack's answer to the sign-in had no identity in it. Please sign in again.")
        try:
            claims = jwt.decode(id_token, self._signing_key(id_token), algorithms=["RS256"], audience=self.client_id,
                                issuer=ISSUER, options={"require": ["exp", "iat", "aud", "iss", "sub"]}, leeway=60)
        except jwt.PyJWKClientError:
            raise SignInFailed("Slack's signing keys couldn't be read, so the sign-in can't be checked. Please try again.") from None
        except jwt.InvalidTokenError:
            raise SignInFailed("Slack's identity token didn't check out (signature, audience or expiry). Please sign in again.") from None
        if not hmac.compare_digest(str(claims.get("nonce") or ""), nonce):
            raise SignInFailed("This sign-in doesn't match the one started here (nonce). Please sign in again.")
        team_id, user_id = claims.get(TEAM_CLAIM), claims.get(USER_CLAIM) or claims.get("sub")
        if not team_id or not user_id:
            raise SignInFailed("Slack's identity token didn't say who you are. Please sign in again.")
        try:
            info = WebClient(token=access_token, base_url=self._client.base_url, timeout=self._client.timeout).openid_connect_userInfo()
        except SlackApiError as error:
            raise SignInFailed(f"Slack didn't confirm who you are ({error.response.get('error')}). Please sign in again.") from None
        except (SlackClientError, OSError) as error:
            raise SignInFailed(f"Slack couldn't be reached to finish the sign-in ({describe_failure(error)}). Please try again.") from None
        if info.get(USER_CLAIM, info.get("sub")) != user_id or info.get(TEAM_CLAIM) != team_id:
            raise SignInFailed("Slack's answers about who you are disagree. Please sign in again.")
        return SignedIn(user_id=str(user_id), team_id=str(team_id), name=str(info.get("name") or user_id),
                        email=info.get("email"))


def user_is_active(client: WebClient, user_id: str) -> bool:
    """False for a deactivated (users.info `deleted`) or unknown account."""
    try:
        user = client.users_info(user=user_id)["user"]
    except SlackApiError as error:
        if error.response.get("error") in {"user_not_found", "account_inactive"}:
            return False
        raise UserLookupFailed(describe_failure(error)) from None
    except (SlackClientError, OSError) as error:
        raise UserLookupFailed(describe_failure(error)) from None
    return not user.get("deleted")
