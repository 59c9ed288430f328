"""Credentials kept out of everything shown: metadata, logs, error messages, MLflow.

``mask_secrets`` is the one function that masks them, in a URL or in any text holding one (an
error message quoting the URL). It masks, case-insensitively:

- the password of ``scheme://user:password@host``, encoded or not: the password runs from the
  first ``:`` after the user to the last ``@`` before whitespace, so un-encoded ``@``, ``:`` and
  ``/`` in it are masked too (the user name is kept; it cannot hold ``:``, ``/`` or ``@``);
- the value of every ``name=value`` whose name is a secret's: ``password``, ``passwd``,
  ``secret``, ``token``, ``signature``, ``credential``, ``apikey``, ``accesskey`` anywhere in the
  name (``sslpassword``, ``X-Amz-Signature``, ``aws_secret_access_key``), and ``pwd``, ``pass``,
  ``key``, ``sig`` as a whole part of it (``api_key``, ``Key``, not ``monkey``), also inside
  another parameter's value (a URL passed as a parameter). That covers URL
  query parameters (the value ends at ``&`` or whitespace) and key=value DSNs
  (``host=h password=secret``, quoted values with backslash escapes too);
- every string passed as ``secrets`` (e.g. ``url_secrets(url)``), as written and percent-encoded:
  what a driver repeats of a URL in its own words (a host name made of a password's end).

It errs on the side of masking: ``https://host:8443/a@b`` loses ``8443/a`` as if it were a
password. A password with un-encoded whitespace is not a URL and is not recognized as one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote

MASK = "***"

# scheme://user:password@ in any text: greedy up to the last "@" before whitespace.
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*):(?P<password>\S*)@")
# The same at the start of one URL, where "?" starts the query (RFC 3986): the password runs up
# to the last "@" before it, so "@" in the query is not taken for the end of a password.
_URL_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@?]*):(?P<password>[^\s?]*)@")

_KEY_VALUE = re.compile(
    r"(?<![\w.-])(?P<name>[\w.-]+)(?P<equals>[ \t]*=[ \t]*)"
    # A quoted value (the closing quote may be cut off), or everything up to "&" or whitespace.
    r"""(?P<value>'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s&]*)"""
)
_SECRET_NAME = re.compile(
    r"password|passwd|secret|token|signature|credential|apikey|accesskey|(?:^|[_.-])(?:pwd|pass|key|sig)(?:$|[_.-])",
    re.IGNORECASE,
)


def mask_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every credential replaced by ``***`` (the module's docstring lists the forms)."""
    for secret in sorted({s for value in secrets if value for s in _spellings(value)}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text)
    return _mask_key_values(text)


def _mask_key_values(text: str) -> str:
    def replace(match: re.Match) -> str:
        if _SECRET_NAME.search(match["name"]):
            return f"{match['name']}{match['equals']}{MASK}"
        # Another parameter's value may hold pairs of its own (a quoted DSN, a nested URL).
        return f"{match['name']}{match['equals']}{_mask_key_values(match['value'])}"

    return _KEY_VALUE.sub(replace, text)


def url_secrets(url: str) -> list[str]:
    """The secrets a URL or DSN holds (its password, the values of its secret parameters), as
    written and decoded: to mask them wherever a driver's message repeats them in another form."""
    found = []
    userinfo = _URL_USERINFO.match(url)
    if userinfo:
        password = userinfo["password"]
        found.append(password)
        # A parser that ends the password at its first "@" (SQLAlchemy, libpq) takes the rest
        # for the host, and the driver's messages quote it: "ss@host" of "p@ss".
        found.extend(f"{part}@" for part in _after_each_at(password))
    for match in _KEY_VALUE.finditer(url):
        if _SECRET_NAME.search(match["name"]):
            value = match["value"]
            found.append(value[1:-1] if len(value) > 1 and value[0] in "'\"" and value[-1] == value[0] else value)
    return [s for value in found if value for s in dict.fromkeys([value, unquote(value)])]


def encode_credentials(url: str) -> str:
    """The URL with its password percent-encoded, and any "@" in its query: SQLAlchemy ends a
    password at its first "@" (and a user at the last "@" before a ":"), and hands the rest to the
    driver as the host name, which the driver's errors then print. Encoded, every part is read
    whole; what was already encoded is unchanged in meaning. A "?" in a password must be encoded
    (it starts the query); "@", ":" and "/" may be written as they are."""
    userinfo = _URL_USERINFO.match(url)
    if userinfo:
        password = quote(unquote(userinfo["password"]), safe="")
        url = f"{userinfo['head']}:{password}@{url[userinfo.end() :]}"
    base, mark, query = url.partition("?")
    return base + mark + query.replace("@", "%40")


def _after_each_at(password: str) -> list[str]:
    return [password[i + 1 :] for i, char in enumerate(password) if char == "@" and password[i + 1 :]]


def _spellings(secret: str) -> list[str]:
    return list(dict.fromkeys([secret, quote(secret, safe=""), quote_plus(secret, safe="")]))
