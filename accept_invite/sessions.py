"""The customer's browser session: a short-lived signed cookie that says who signed in, never a token.

The cookie holds the signed-in person's email, name and subject, and the CSRF token of their forms. It is
signed (itsdangerous, SESSION_SECRET), HttpOnly, SameSite=Lax and Secure except on a local http address.
Before sign-in a visitor gets an anonymous session holding only a CSRF token, for the forms that need no
sign-in (the resend request).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import asdict, dataclass, field
from http.cookies import CookieError, SimpleCookie

from itsdangerous import BadSignature, URLSafeTimedSerializer

from shared.settings import Settings, get_settings

SESSION_SECONDS = 30 * 60
LANGUAGE_COOKIE = "lang"
_SALT = "accept_invite.session.v1"


@dataclass
class Session:
    """What the signed-in person's session cookie carries."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    email: str | None = None
    name: str | None = None
    subject: str | None = None
    epoch: int | None = None  # the subject's session epoch at sign-in (shared.session_epochs): a later one ends this session

    @property
    def signed_in(self) -> bool:
        return bool(self.email)

    def check_csrf(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf.encode(), str(token).encode())


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    if not settings.session_secret:
        raise RuntimeError("SESSION_SECRET is not set: customer sessions cannot be signed")
    return URLSafeTimedSerializer(settings.session_secret, salt=_SALT)


def cookie_name(settings: Settings | None = None) -> str:
    # __Host- binds the cookie to this host and path=/; browsers accept the prefix only on Secure cookies.
    return "accept_session" if (settings or get_settings()).is_local else "__Host-accept_session"


def encode(session: Session, settings: Settings | None = None) -> str:
    return _serializer(settings or get_settings()).dumps(asdict(session))


def decode(value: str | None, settings: Settings | None = None) -> Session | None:
    """The session in a cookie value, or None when it is missing, forged, malformed or older than SESSION_SECONDS."""
    if not value:
        return None
    try:
        data = _serializer(settings or get_settings()).loads(value, max_age=SESSION_SECONDS)
        return Session(**{k: data.get(k) for k in ("csrf", "email", "name", "subject", "epoch")})
    except (BadSignature, TypeError, ValueError):
        return None


def read_cookies(header: str | None) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header or "")
    except CookieError:
        return {}
    return {k: m.value for k, m in jar.items()}


def _attributes(max_age: int, settings: Settings) -> str:
    secure = "" if settings.is_local else "; Secure"
    return f"Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"


def set_cookie(session: Session, settings: Settings | None = None) -> str:
    """The Set-Cookie value that stores `session`."""
    settings = settings or get_settings()
    return f"{cookie_name(settings)}={encode(session, settings)}; {_attributes(SESSION_SECONDS, settings)}"


def clear_cookie(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return f"{cookie_name(settings)}=; {_attributes(0, settings)}"


def binding_cookie_name(settings: Settings | None = None) -> str:
    """The cookie that binds a sign-in to the browser that started it (login CSRF): __Host- wherever it can be Secure."""
    return "signin_binding" if (settings or get_settings()).is_local else "__Host-signin_binding"


def binding_cookie(value: str, max_age: int, settings: Settings | None = None) -> str:
    """Set at /api/auth/signin for as long as the sign-in may take; the stored flow keeps only its hash."""
    settings = settings or get_settings()
    return f"{binding_cookie_name(settings)}={value}; {_attributes(max_age, settings)}"


def language_cookie(language: str, settings: Settings | None = None) -> str:
    """Remembers the language picked in the switcher (a preference, not a secret)."""
    settings = settings or get_settings()
    return f"{LANGUAGE_COOKIE}={language}; {_attributes(365 * 24 * 3600, settings)}"
