"""The one family of errors the CRM client raises.

Every error carries a `.message` a person can act on (it is what the screen and the command show)
and the HTTP `.status` when there was one. No message ever contains the API key.
"""

from __future__ import annotations


class CrmError(Exception):
    """Base of every CRM failure. Catch this to handle "the CRM said no or did not answer"."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r})"


class CrmAuthError(CrmError):
    """401: the key is missing or wrong. Retrying cannot help; an operator must fix the setting."""

    def __init__(self, status: int | None = 401) -> None:
        super().__init__("The CRM refused the API key. Check MERGEASSIST_CRM_API_KEY.", status=status)


class CrmNotFound(CrmError):
    """404: no such customer (a merged-away secondary answers 404 everywhere)."""


class CrmValidationError(CrmError):
    """422: the CRM rejected what we sent; `.field_errors` says which field and why."""

    def __init__(self, message: str, *, field_errors: dict[str, list[str]], status: int | None = 422) -> None:
        super().__init__(message, status=status)
        self.field_errors = field_errors


class CrmRateLimited(CrmError):
    """429 still answered after every retry; `.retry_after` is the CRM's last advice in seconds."""

    def __init__(self, message: str, *, retry_after: float | None, status: int | None = 429) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class CrmUnavailable(CrmError):
    """5xx, timeouts or broken connections after every retry: the CRM is down or unreachable."""


class CrmUnexpectedResponse(CrmError):
    """The CRM answered with a body we cannot read (not JSON, or not the shape of the contract)."""


class CrmOutcomeUnknown(CrmError):
    """A state-changing call whose answer was lost: it may or may not have happened.

    Never resolved by sending the call again. For a merge, `CrmClient.settle_merge` asks the CRM
    whether the secondary still exists, which settles it.
    """
