"""The exceptions Heat's engine raises, mapped to the API's 400s and to failure reasons.

Real Heat reports a bad template as a 400 whose `error.type` names the exception class
(StackValidationFailed, UserParameterMissing, InvalidTemplateReference, ...), and a
failed resource as "<ExceptionClass>: resources.<name>: <message>". Keeping the class
name in `kind` lets both the API fault and the status reason use Heat's words.
"""

from __future__ import annotations


class HeatError(Exception):
    """Base for template and engine errors; `kind` is Heat's exception class name."""

    kind = "StackValidationFailed"

    def __init__(self, message: str, *, kind: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind


class StackValidationFailed(HeatError):
    kind = "StackValidationFailed"


class InvalidTemplateVersion(HeatError):
    kind = "InvalidTemplateVersion"


class UserParameterMissing(HeatError):
    kind = "UserParameterMissing"


class UnknownUserParameter(HeatError):
    kind = "UnknownUserParameter"


class InvalidTemplateReference(HeatError):
    kind = "InvalidTemplateReference"


class InvalidTemplateAttribute(HeatError):
    kind = "InvalidTemplateAttribute"


class ResourceTypeNotFound(HeatError):
    kind = "StackValidationFailed"


class CircularDependency(HeatError):
    kind = "CircularDependencyException"


class ResourceFailure(HeatError):
    """A resource action failed; `kind` is the cause's class as Heat names it."""

    kind = "ResourceFailure"


class ResourceInError(ResourceFailure):
    kind = "ResourceInError"


class WaitConditionFailure(ResourceFailure):
    kind = "WaitConditionFailure"


class WaitConditionTimeout(ResourceFailure):
    kind = "WaitConditionTimeout"


class Cancelled(Exception):
    """The stack's run was cancelled (timeout or a delete overtook the create)."""
