"""Who may see the sandbox CRM's HTML pages and use its form (which queues mail to send).

The pages sit behind the same auth as the Web API: a request carrying ``Bearer sandbox``
passes.  A browser gets in by opening the printed page URL once: it carries a one-time
login token, which is exchanged for a session cookie (HttpOnly, SameSite=Strict) and
then forgotten.  The form is protected against cross-site posts three ways: the cookie
is SameSite=Strict, the form carries a per-session token that must come back, and a post
whose Origin is another site is refused.  Without this any web page the user visits
could post a Pending Send e-mail to any address, and the bridge would send it.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass, field

from werkzeug.wrappers import Request, Response

COOKIE = "crm_sandbox_session"
LOGIN_PARAM = "login"
CSRF_FIELD = "csrf"
_MAX_SESSIONS = 200


@dataclass
class PageAuth:
    api_token: str
    _logins: set[str] = field(default_factory=set)
    _sessions: dict[str, str] = field(default_factory=dict)  # session id -> form token
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def login_token(self) -> str:
        """A fresh one-time token for a page URL (``/?login=<token>``)."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._logins.add(token)
        return token

    def exchange(self, request: Request) -> Response | None:
        """A login URL: swap its token for a session cookie and go to the page without it."""
        token = request.args.get(LOGIN_PARAM)
        if token is None:
            return None
        with self._lock:
            known = token in self._logins
            self._logins.discard(token)
            if not known:
                return None
            session = secrets.token_urlsafe(24)
            if len(self._sessions) >= _MAX_SESSIONS:
                self._sessions.pop(next(iter(self._sessions)))
            self._sessions[session] = secrets.token_urlsafe(24)
        response = Response("", status=303, headers={"Location": request.path})
        response.set_cookie(COOKIE, session, httponly=True, samesite="Strict", path="/")
        return response

    def _bearer(self, request: Request) -> bool:
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), self.api_token)

    def form_token(self, request: Request) -> str:
        """The token the page's form must send back ("" for a bearer-token client)."""
        with self._lock:
            return self._sessions.get(request.cookies.get(COOKIE, ""), "")

    def allowed(self, request: Request) -> bool:
        if self._bearer(request):
            return True
        return bool(self.form_token(request))

    def post_allowed(self, request: Request) -> bool:
        """A form post: from a script with the bearer token, or from our own page in this session."""
        if self._bearer(request):
            return True
        expected = self.form_token(request)
        if not expected:
            return False
        origin = request.headers.get("Origin")
        if origin is not None and origin != request.host_url.rstrip("/"):
            return False
        sent = request.form.get(CSRF_FIELD, "")
        return hmac.compare_digest(sent, expected)


def refused(status: int, why: str) -> Response:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Sandbox CRM</title></head><body>"
        f"<h1>{why}</h1><p>Open the page URL printed when the sandbox started (it signs this browser "
        "in once), or send <code>Authorization: Bearer sandbox</code>.</p></body></html>"
    )
    return Response(body, status=status, mimetype="text/html")
