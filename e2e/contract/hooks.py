"""Schemathesis hooks for Parley's contract test.

Every generated request carries a live session: the provider signs in with
the account the Go test created and sends both cookies, as a browser would.
A 401 (say, after the run itself called logout, refresh or a session revoke)
makes Schemathesis fetch a fresh session before the next request.
"""

import base64
import json
import os

import requests
import schemathesis
from hypothesis import strategies as st

BASE = os.environ["PARLEY_CONTRACT_BASE"]
LOGIN = os.environ["PARLEY_CONTRACT_LOGIN"]
PASSWORD = os.environ["PARLEY_CONTRACT_PASSWORD"]
ORIGIN = os.environ["PARLEY_CONTRACT_ORIGIN"]


# Schemathesis caches what get returns for 10 minutes (the session token
# lives 15) and calls get again, replaying the request, after a 401.
@schemathesis.auth(refresh_interval=600, retry_on=[401])
class SessionCookies:
    """Signs in and hands out the session and refresh cookies."""

    def get(self, case, ctx):
        resp = requests.post(
            BASE + "/api/v1/auth/login",
            json={"login": LOGIN, "password": PASSWORD},
            headers={"Origin": ORIGIN},
            timeout=30,
        )
        resp.raise_for_status()
        return {
            "parley_session": resp.cookies["parley_session"],
            "parley_refresh": resp.cookies["parley_refresh"],
        }

    def set(self, case, data, ctx):
        case.cookies = {**(case.cookies or {}), **data}


# Cursors are opaque to clients but not arbitrary: the document names their
# formats, and these strategies build well-formed ones the way the services
# do, so positive cases page from somewhere real instead of being refused.
def _b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# chat-service: "<microseconds since the epoch>,<conversation id>".
schemathesis.openapi.format(
    "parley-conversation-cursor",
    st.builds(
        lambda micros, cid: _b64(f"{micros},{cid}".encode()),
        st.integers(min_value=0, max_value=4102444800000000),  # up to 2100
        st.uuids(),
    ),
)

# user-service: {"q": normalised query, "k": sort key, "i": user id}; the
# query part is filled in from the case's own query below.
schemathesis.openapi.format(
    "parley-user-cursor",
    st.builds(
        lambda key, uid: _b64(json.dumps({"q": "", "k": key, "i": str(uid)}).encode()),
        st.from_regex(r"\A[a-z0-9_.]{1,32}\Z"),
        st.uuids(),
    ),
)


@schemathesis.hook("map_case").apply_to(method="GET", path="/users")
def user_cursor_of_this_query(ctx, case):
    """A user cursor belongs to one query: bind a generated one to the case's."""
    query = case.query or {}
    cursor = query.get("cursor")
    if not isinstance(cursor, str) or not cursor:
        return case
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        return case  # not one of ours: a negative case, left as generated
    if not isinstance(data, dict) or set(data) != {"q", "k", "i"}:
        return case
    prefix = query.get("query")
    data["q"] = prefix.strip(_GO_SPACE).lower() if isinstance(prefix, str) else ""
    query["cursor"] = _b64(json.dumps(data).encode())
    return case


# The white space Go's strings.TrimSpace removes (unicode.IsSpace).
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
