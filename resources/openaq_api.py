"""One session with OpenAQ's v3 API through the official SDK, shared by the resources that ask it
(the locations catalog, the latest values).

The SDK (``openaq``, pinned) sends the key (``X-API-Key``), keeps to the rate limit from the
response headers (``auto_wait``: once its budget is spent it sleeps until the window resets) and
turns error statuses into exceptions. What it lacks is added here, once:

- A 429 (the budget spent by another client of the same key, which the SDK cannot know of)
  waits the response's ``Retry-After`` and retries, at most ``max_retries`` times; a wait longer
  than ``max_wait_seconds`` (the hourly limit) fails at once rather than holding a run for an
  hour. The SDK's ``HTTPRateLimitError`` carries only the body, so a transport remembers the header.
- Every error raised names the API by its masked URL and never holds the key: its text is
  masked and no cause is chained (a chained SDK exception could hold it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from dagster import ConfigurableResource
from openaq import OpenAQ
from openaq.core.exceptions import APIError, HTTPRateLimitError, OpenAQError
from openaq.core.transport import DEFAULT_LIMITS, DEFAULT_TIMEOUT, Response, Transport
from pydantic import Field

from domain.secrets import mask_secrets

OPENAQ_API_URL = "https://api.openaq.org/v3/"
MAX_PAGE_SIZE = 1000  # OpenAQ's largest limit
DEFAULT_WAIT_SECONDS = 60.0  # a 429 without Retry-After: OpenAQ's shortest window, a minute

log = logging.getLogger(__name__)
T = TypeVar("T")


class OpenAQApiError(RuntimeError):
    """The API did not answer (after the rate-limit retries); the key is masked."""


@dataclass
class RequestCounts:
    """What a session asked: requests answered, 429s met, and the seconds waited for them."""

    requests: int = 0
    rate_limited: int = 0
    waited_seconds: float = 0.0


class ApiSession:
    """An SDK client for one piece of work (``with ApiSession(...) as session``), and
    ``session.request(call)`` to run ``call(client)`` with the 429 retries. ``error`` is the
    exception type raised (a subclass of ``OpenAQApiError``), ``what`` names the work in it."""

    def __init__(
        self,
        api_key: str | None,
        base_url: str,
        *,
        what: str,
        max_retries: int,
        max_wait_seconds: float,
        error: type[OpenAQApiError] = OpenAQApiError,
    ) -> None:
        self._api_key, self._base_url, self._what = api_key, base_url, what
        self._max_retries, self._max_wait_seconds, self._error = max_retries, max_wait_seconds, error
        self._transport = _RetryAfterTransport(timeout=DEFAULT_TIMEOUT, limits=DEFAULT_LIMITS)
        self._client: OpenAQ | None = None
        self.counts = RequestCounts()

    def __enter__(self) -> ApiSession:
        # The SDK checks the key's form here, before any request: its error is masked too.
        self._client = self._call(
            lambda: OpenAQ(api_key=self._api_key, base_url=self._base_url, _transport=self._transport)
        )
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def request(self, call: Callable[[OpenAQ], T]) -> T:
        """``call(client)``, one SDK request; a 429 waits its Retry-After and retries."""
        client = self._client
        if client is None:
            raise RuntimeError("ApiSession.request outside its with block")
        for attempt in range(self._max_retries + 1):
            self._transport.retry_after = None
            try:
                answer = self._call(lambda: call(client))
            except _RateLimited:
                self.counts.rate_limited += 1
                wait = self._transport.retry_after
                wait = DEFAULT_WAIT_SECONDS if wait is None else wait
                if attempt == self._max_retries or wait > self._max_wait_seconds:
                    raise self._error(
                        f"OpenAQ refused {attempt + 1} request(s) with 429 (rate limit); it asks to wait "
                        f"{wait:g} s (at most {self._max_wait_seconds:g} s and {self._max_retries} retries are allowed)"
                    ) from None
                log.warning(
                    "OpenAQ rate limit (429): waiting %g s, retry %d of %d", wait, attempt + 1, self._max_retries
                )
                time.sleep(wait)
                self.counts.waited_seconds += wait
                continue
            self.counts.requests += 1
            return answer
        raise AssertionError("unreachable")  # the loop returns or raises

    def _call(self, request: Callable[[], T]) -> T:
        """Run an SDK call; its errors become ours, with the key masked and no chained cause."""
        try:
            return request()
        except HTTPRateLimitError:
            raise _RateLimited() from None
        except (OpenAQError, APIError, OSError) as exc:
            text = mask_secrets(f"{type(exc).__name__}: {exc}", [self._api_key or ""])
            raise self._error(f"OpenAQ {self._what} from {mask_secrets(self._base_url)}: {text}") from None


class OpenAQApiSettings(ConfigurableResource):
    """What every resource that calls the v3 API is given: the key, the URL, the 429 policy."""

    api_key: str | None = Field(
        default=None, repr=False, description="OpenAQ API key: set OPENAQ_API_KEY; never shown or logged"
    )
    base_url: str = Field(default=OPENAQ_API_URL, description="the v3 API's base URL (tests: the local server)")
    max_retries: int = Field(default=3, description="retries of a request the API refused with 429")
    max_wait_seconds: float = Field(
        default=120.0, description="longest Retry-After waited for; a longer one (the hourly limit) fails the request"
    )

    def session(self, what: str, error: type[OpenAQApiError]) -> ApiSession:
        """An SDK session for requests of ``what``, whose failures raise ``error``."""
        return ApiSession(
            self.api_key,
            self.base_url,
            what=what,
            max_retries=self.max_retries,
            max_wait_seconds=self.max_wait_seconds,
            error=error,
        )

    def shown_settings(self) -> dict[str, Any]:
        """The API settings for metadata: only whether the key is set."""
        return {
            "api_key": f"OPENAQ_API_KEY ({'set' if self.api_key else 'not set'})",
            "base_url": mask_secrets(self.base_url),
        }


class _RateLimited(Exception):
    """A 429 seen by ``_call``, for ``request``."""


class _RetryAfterTransport(Transport):
    """The SDK's transport, remembering the ``Retry-After`` of a 429: the SDK's
    ``HTTPRateLimitError`` carries only the body, and does not update its own rate budget."""

    retry_after: float | None = None

    def _raw_request(self, method: str, host: str, path: str, headers: Any) -> Response:
        response = super()._raw_request(method, host, path, headers)
        if response.status_code == 429:
            # Seconds; an HTTP date (also allowed) is not read, and the default wait applies.
            value = (response.headers.get("retry-after") or "").strip()
            self.retry_after = float(value) if value.isdigit() else None
        return response
