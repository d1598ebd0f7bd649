"""A local stand-in for the vendor user pool's sign-in, speaking Amazon Cognito's wire protocol to the real client
(amazon-cognito-identity-js in the console): `InitiateAuth` with `USER_SRP_AUTH`, the `PASSWORD_VERIFIER` challenge
(Cognito's SRP-6a variant: 3072-bit group, HKDF "Caldera Derived Key", HMAC over pool name, user, secret block and
timestamp), then `SOFTWARE_TOKEN_MFA` (RFC 6238 TOTP, as the pool requires). It issues ID tokens (HS256 JWTs signed
with a key made per process) carrying the `custom:vendor_id` claim, and verifies them for the local authorizer.

Honest about what it is: one pool in memory, users made by `add_user` (the operator's invitation), no password
policy, no refresh tokens, no device tracking, no MFA set-up (users are created with their TOTP secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
import pyotp

# RFC 5054's 3072-bit group, as Cognito uses it (g = 2).
N_HEX = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF"
)
N = int(N_HEX, 16)
G = 2
HKDF_INFO = b"Caldera Derived Key"
ID_TOKEN_SECONDS = 3600
SESSION_SECONDS = 180  # Cognito's challenge sessions last three minutes
TARGET_PREFIX = "AWSCognitoIdentityProviderService."


def pad_hex(value: int) -> str:
    """Cognito's hex form of a positive integer: even length, and a leading 00 when the top bit is set."""
    text = format(value, "x")
    if len(text) % 2:
        text = "0" + text
    elif text[0] in "89abcdef":
        text = "00" + text
    return text


def hex_hash(hex_text: str) -> str:
    return hashlib.sha256(bytes.fromhex(hex_text)).hexdigest().rjust(64, "0")


def password_x(pool_name: str, username: str, password: str, salt: int) -> int:
    inner = hashlib.sha256(f"{pool_name}{username}:{password}".encode()).hexdigest().rjust(64, "0")
    return int(hex_hash(pad_hex(salt) + inner), 16)


K = int(hex_hash(pad_hex(N) + pad_hex(G)), 16)


def hkdf_key(s_value: int, u_value: int) -> bytes:
    prk = hmac.new(bytes.fromhex(pad_hex(u_value)), bytes.fromhex(pad_hex(s_value)), hashlib.sha256).digest()
    return hmac.new(prk, HKDF_INFO + b"\x01", hashlib.sha256).digest()[:16]


def timestamp_now(now: datetime | None = None) -> str:
    """The TIMESTAMP format Cognito's clients send: `Tue Nov 3 15:04:05 UTC 2026` (day not zero-padded)."""
    at = now or datetime.now(UTC)
    return f"{at:%a %b} {at.day} {at:%H:%M:%S} UTC {at.year}"


class CognitoError(Exception):
    """An error Cognito answers with (HTTP 400, `__type` and `message`)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class PoolUser:
    email: str
    vendor_id: str
    salt: int
    verifier: int
    totp_secret: str
    sub: str = field(default_factory=lambda: secrets.token_hex(16))


@dataclass
class _Session:
    user: PoolUser
    expires: float
    b: int = 0
    big_b: int = 0
    big_a: int = 0
    secret_block: bytes = b""
    password_verified: bool = False


class CognitoStandIn:
    """One user pool's SRP + TOTP sign-in, its ID tokens, and their verification."""

    def __init__(self, user_pool_id: str = "us-east-1_LocalPool", client_id: str = "local-console-client") -> None:
        self.user_pool_id = user_pool_id
        self.client_id = client_id
        self.pool_name = user_pool_id.split("_", 1)[1]
        self.issuer = f"https://cognito-idp.local/{user_pool_id}"
        self._users: dict[str, PoolUser] = {}
        self._sessions: dict[str, _Session] = {}
        self._signing_key = secrets.token_bytes(32)

    # ------------------------------------------------------------------ the operator's side
    def add_user(self, email: str, password: str, vendor_id: str, totp_secret: str | None = None) -> PoolUser:
        """Invite a vendor user (as the operator does with AdminCreateUser), TOTP already associated."""
        username = email.lower()
        salt = int.from_bytes(secrets.token_bytes(16), "big")
        verifier = pow(G, password_x(self.pool_name, username, password, salt), N)
        user = PoolUser(username, vendor_id, salt, verifier, totp_secret or pyotp.random_base32())
        self._users[username] = user
        return user

    # ------------------------------------------------------------------ the wire
    def handle(self, target: str, body: dict[str, Any]) -> dict[str, Any]:
        """Answer one `X-Amz-Target` operation; raises `CognitoError` with Cognito's error type."""
        operation = target.removeprefix(TARGET_PREFIX)
        if body.get("ClientId") != self.client_id:
            raise CognitoError("ResourceNotFoundException", "User pool client does not exist.")
        if operation == "InitiateAuth":
            return self._initiate(body)
        if operation == "RespondToAuthChallenge":
            return self._respond(body)
        raise CognitoError("InvalidParameterException", f"{operation} is not supported by the local stand-in")

    def _initiate(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("AuthFlow") != "USER_SRP_AUTH":
            # As the vendor pool's app client: only SRP is enabled.
            raise CognitoError("InvalidParameterException", "USER_SRP_AUTH is the only flow enabled for this client.")
        params = body.get("AuthParameters") or {}
        user = self._users.get(str(params.get("USERNAME", "")).lower())
        a_value = int(str(params.get("SRP_A") or "0"), 16)
        if a_value % N == 0:
            raise CognitoError("InvalidParameterException", "SRP_A is not valid.")
        if user is None:
            raise CognitoError("NotAuthorizedException", "Incorrect username or password.")
        b = int.from_bytes(secrets.token_bytes(128), "big") % N
        big_b = (K * user.verifier + pow(G, b, N)) % N
        session = _Session(user, time.time() + SESSION_SECONDS, b, big_b, a_value, secrets.token_bytes(64))
        token = self._new_session(session)
        return {
            "ChallengeName": "PASSWORD_VERIFIER",
            "Session": token,
            "ChallengeParameters": {
                "USER_ID_FOR_SRP": user.email,
                "SRP_B": format(big_b, "x"),
                "SALT": format(user.salt, "x"),
                "SECRET_BLOCK": base64.b64encode(session.secret_block).decode(),
            },
        }

    def _respond(self, body: dict[str, Any]) -> dict[str, Any]:
        session = self._take_session(str(body.get("Session") or ""))
        answers = body.get("ChallengeResponses") or {}
        challenge = body.get("ChallengeName")
        if challenge == "PASSWORD_VERIFIER" and not session.password_verified:
            self._verify_password(session, answers)
            session.password_verified = True
            return {
                "ChallengeName": "SOFTWARE_TOKEN_MFA",
                "Session": self._new_session(session),
                "ChallengeParameters": {},
            }
        if challenge == "SOFTWARE_TOKEN_MFA" and session.password_verified:
            code = str(answers.get("SOFTWARE_TOKEN_MFA_CODE", ""))
            if not pyotp.TOTP(session.user.totp_secret).verify(code, valid_window=1):
                raise CognitoError("CodeMismatchException", "Invalid code received for user")
            return {"ChallengeParameters": {}, "AuthenticationResult": self._tokens(session.user)}
        raise CognitoError("InvalidParameterException", f"unexpected challenge {challenge}")

    def _verify_password(self, session: _Session, answers: dict[str, Any]) -> None:
        user = session.user
        u_value = int(hex_hash(pad_hex(session.big_a) + pad_hex(session.big_b)), 16)
        s_value = pow(session.big_a * pow(user.verifier, u_value, N), session.b, N)
        key = hkdf_key(s_value, u_value)
        try:
            block = base64.b64decode(str(answers.get("PASSWORD_CLAIM_SECRET_BLOCK", "")), validate=True)
        except ValueError as e:
            raise CognitoError("InvalidParameterException", "PASSWORD_CLAIM_SECRET_BLOCK is not base64") from e
        message = (
            self.pool_name.encode()
            + str(answers.get("USERNAME", "")).encode()
            + block
            + str(answers.get("TIMESTAMP", "")).encode()
        )
        expected = base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
        claimed = str(answers.get("PASSWORD_CLAIM_SIGNATURE", ""))
        if block != session.secret_block or not hmac.compare_digest(expected, claimed):
            raise CognitoError("NotAuthorizedException", "Incorrect username or password.")

    def _new_session(self, session: _Session) -> str:
        token = secrets.token_urlsafe(48)
        session.expires = time.time() + SESSION_SECONDS
        self._sessions[token] = session
        return token

    def _take_session(self, token: str) -> _Session:
        session = self._sessions.pop(token, None)
        if session is None or session.expires < time.time():
            raise CognitoError("NotAuthorizedException", "Invalid session for the user, session is expired.")
        return session

    def _tokens(self, user: PoolUser) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "sub": user.sub,
            "iss": self.issuer,
            "aud": self.client_id,
            "token_use": "id",
            "email": user.email,
            "custom:vendor_id": user.vendor_id,
            "auth_time": now,
            "iat": now,
            "exp": now + ID_TOKEN_SECONDS,
        }
        id_token = jwt.encode(claims, self._signing_key, algorithm="HS256")
        access = jwt.encode({**claims, "token_use": "access"}, self._signing_key, algorithm="HS256")
        return {"IdToken": id_token, "AccessToken": access, "ExpiresIn": ID_TOKEN_SECONDS, "TokenType": "Bearer"}

    # ------------------------------------------------------------------ the authorizer's side
    def verify_id_token(self, token: str) -> dict[str, Any] | None:
        """The token's claims when this pool issued it, for this client, as an ID token, not expired; else None."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self._signing_key, algorithms=["HS256"], audience=self.client_id, issuer=self.issuer
            )
        except jwt.PyJWTError:
            return None
        return claims if claims.get("token_use") == "id" else None

    def expire_tokens(self) -> None:
        """Every token issued so far stops verifying (what a revoked or expired session looks like)."""
        self._signing_key = secrets.token_bytes(32)
