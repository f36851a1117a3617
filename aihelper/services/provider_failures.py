"""What a person is told about a provider call that failed, from the failure's code: the
provider's own words stay in the log, and only an admin reads the technical reason."""

from __future__ import annotations

from aihelper.failures import Term
from aihelper.i18n import N_, current_language, speaking, words
from aihelper.llm import ProviderError

# Failures only an administrator can fix (the key, the URL, the model's id): anyone else is told
# to ask one, rather than given a reason they can do nothing about.
_FIXED_BY_ADMIN = frozenset({"unauthorized", "model_not_found", "redirect", "blocked_url", "bad_response"})


# Why an answer failed, by the code the failure was stored with.
_FAILURES = {
    "unauthorized": N_("provider_error_unauthorized"),
    "model_not_found": N_("provider_error_model_not_found"),
    "redirect": N_("provider_error_redirect"),
    "blocked_url": N_("provider_error_blocked_url"),
    "bad_response": N_("provider_error_bad_response"),
    "provider_down": N_("provider_error_provider_down"),
    "timeout": N_("provider_error_timeout"),
    "network": N_("provider_error_network"),
    "rate_limited": N_("provider_error_rate_limited_no_wait"),
    "internal_error": N_("answer_failed_internal"),
    "interrupted": N_("answer_interrupted"),
}


def provider_failure(error: ProviderError, *, for_admin: bool = True) -> Term:
    """What to tell a person about a failed provider call; the provider's own words stay in the
    log. An admin also reads the HTTP status the provider answered with."""
    if error.code == "rate_limited" and error.retry_after:
        return Term(N_("provider_error_rate_limited"), wait=str(error.retry_after))
    reason = _failure_term(error.code, for_admin=for_admin)
    if for_admin and error.status:
        return Term(N_("provider_error_with_status"), reason=reason, status=str(error.status))
    return reason


def provider_error_message(error: ProviderError, language: str | None = None, *, for_admin: bool = True) -> str:
    with speaking(language or current_language()):
        return words(provider_failure(error, for_admin=for_admin))


def _failure_term(code: str | None, *, for_admin: bool) -> Term:
    if code is None:  # an answer from before codes were kept
        return Term(N_("answer_failed"))
    if code in _FIXED_BY_ADMIN and not for_admin:
        return Term(N_("provider_error_ask_admin"))
    return Term(_FAILURES.get(code, N_("provider_error_network")))


def failure_explained(code: str | None, language: str, *, for_admin: bool) -> str:
    """Why an answer failed, from the code it was stored with."""
    with speaking(language):
        return words(_failure_term(code, for_admin=for_admin))
