"""The one exception type of the outbound client.

Callers branch on ``code`` and show a person a sentence of their own; ``str(error)`` stays generic on
purpose, because exceptions end up in places (tracebacks, error pages, websocket frames) where a
provider's body or a key must never appear. ``detail`` is the only field meant for server logs.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, Literal

ErrorCode = Literal[
    "unauthorized",
    "rate_limited",
    "model_not_found",
    "provider_down",
    "timeout",
    "redirect",
    "blocked_url",
    "bad_response",
    "network",
]

_MESSAGES: Final[dict[str, str]] = {
    "unauthorized": "The AI provider refused the API key.",
    "rate_limited": "The AI provider is rate limiting requests.",
    "model_not_found": "The AI provider does not know this model.",
    "provider_down": "The AI provider is unavailable.",
    "timeout": "The AI provider took too long to answer.",
    "redirect": "The AI provider answered with a redirect, which is not followed.",
    "blocked_url": "The AI provider URL is not allowed.",
    "bad_response": "The AI provider sent an answer that could not be understood.",
    "network": "The AI provider could not be reached.",
}

# A provider body is quoted in ``detail`` at most this long: enough to diagnose, too short to flood logs.
BODY_EXCERPT_CHARS: Final = 500
_DETAIL_MAX_CHARS: Final = 1000
_REDACTED: Final = "[redacted]"


class ProviderError(Exception):
    """A failed call to an AI provider.

    code: see ``ErrorCode``. status: the HTTP status when there was one. retry_after: seconds from
    ``Retry-After`` on a 429. detail: for server-side logs only (may quote up to 500 characters of
    the provider's body, never the API key).
    """

    code: ErrorCode
    status: int | None
    retry_after: int | None
    detail: str

    def __init__(
        self,
        code: ErrorCode,
        *,
        status: int | None = None,
        retry_after: int | None = None,
        detail: str = "",
    ) -> None:
        if code not in _MESSAGES:
            raise ValueError(f"unknown ProviderError code {code!r}")
        super().__init__(_MESSAGES[code])
        self.code = code
        self.status = status
        self.retry_after = retry_after
        self.detail = detail[:_DETAIL_MAX_CHARS]

    def __str__(self) -> str:
        return _MESSAGES[self.code]

    def __repr__(self) -> str:
        # No detail: a repr is printed in places nobody reviews (debuggers, test output, crash reports).
        return f"ProviderError(code={self.code!r}, status={self.status!r}, retry_after={self.retry_after!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments need help to survive pickling (multiprocessing, some task queues).
        return (_rebuild, (self.code, self.status, self.retry_after, self.detail))


def _rebuild(code: ErrorCode, status: int | None, retry_after: int | None, detail: str) -> ProviderError:
    return ProviderError(code, status=status, retry_after=retry_after, detail=detail)


def redact(text: str, secret: str | None) -> str:
    """*text* with every occurrence of *secret* replaced, for anything headed to a log: as it was
    sent, and as a JSON body quotes it (escaped, and with `/` as `\\/`, which PHP writes)."""
    secret = (secret or "").strip()  # the key is sent stripped, so that is the form a provider can echo
    if len(secret) < 4:
        return text
    escaped = json.dumps(secret)[1:-1]
    for form in sorted({secret, escaped, escaped.replace("/", "\\/")}, key=len, reverse=True):
        text = text.replace(form, _REDACTED)
    # A length limit (ProviderError.detail's) may have cut the text inside the key: its start is left.
    for length in range(len(secret) - 1, 3, -1):
        if text.endswith(secret[:length]):
            return text[:-length] + _REDACTED
    return text


def excerpt(body: bytes | str, secret: str | None) -> str:
    """A short, single-line, key-free quote of a provider body for ``detail``."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = redact(text, secret)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > BODY_EXCERPT_CHARS:
        text = text[: BODY_EXCERPT_CHARS - 1] + "…"
    return text


def code_for_status(status: int) -> ErrorCode | None:
    """The code an HTTP error status means on its own, or None when the body has to decide."""
    if status in (401, 403):
        return "unauthorized"
    if status == 404:
        return "model_not_found"
    if status == 408:
        return "timeout"
    if status == 429:
        return "rate_limited"
    if 300 <= status < 400:
        return "redirect"
    if status >= 500:
        return "provider_down"
    return None


# Provider error codes and types vary (OpenAI strings, Chinese providers' numbers and CamelCase);
# substrings keep the table short and tolerant. Checked in order: the first match wins.
_ERROR_KEYWORDS: Final[tuple[tuple[tuple[str, ...], ErrorCode], ...]] = (
    (("model_not_found", "model not found", "modelnotfound", "model_not_exist", "no such model"), "model_not_found"),
    (
        ("invalid_api_key", "api_key", "apikey", "authentication", "unauthorized", "permission", "forbidden"),
        "unauthorized",
    ),
    (("rate_limit", "ratelimit", "rate limit", "throttl", "quota", "too_many", "too many"), "rate_limited"),
    (("timeout", "timed out"), "timeout"),
    (("overload", "server_error", "internal", "unavailable", "service_down"), "provider_down"),
)


def code_for_error_object(error: Any) -> ErrorCode | None:
    """The code for an OpenAI-style ``{"error": ...}`` value, when its code/type/status says one."""
    # The message comes last: free text, but often the only hint ("Rate limit reached", "overloaded").
    candidates = (
        [error.get("code"), error.get("type"), error.get("status"), error.get("message")]
        if isinstance(error, dict)
        else [error]
    )
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool):
            mapped = code_for_status(value)
            if mapped:
                return mapped
        elif isinstance(value, str):
            if value.isdigit() and len(value) == 3:
                mapped = code_for_status(int(value))
                if mapped:
                    return mapped
            lowered = value.lower()
            for keywords, code in _ERROR_KEYWORDS:
                if any(keyword in lowered for keyword in keywords):
                    return code
    return None


def error_from_body(
    body: bytes,
    *,
    status: int | None,
    secret: str | None,
    retry_after: int | None = None,
    default: ErrorCode = "bad_response",
) -> ProviderError:
    """The ProviderError for a failed answer: the status decides, the body refines what it leaves open."""
    code = code_for_status(status) if status is not None else None
    if code is None:
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, dict) and "error" in parsed:
            code = code_for_error_object(parsed["error"])
    prefix = f"HTTP {status}" if status is not None else "provider error"
    return ProviderError(
        code or default,
        status=status,
        retry_after=retry_after,
        detail=f"{prefix}: {excerpt(body, secret)}",
    )
