"""Exceptions raised by the libstyle bindings, one class per ``style_status``."""

from __future__ import annotations

import enum
from typing import Dict, Optional, Type

__all__ = [
    "Status",
    "LibraryNotFoundError",
    "StyleError",
    "InvalidArgumentError",
    "OutOfMemoryError",
    "StyleIOError",
    "FormatError",
    "UnsupportedError",
    "LimitError",
    "CancelledError",
    "BackendError",
    "InternalError",
    "error_for_status",
]


class Status(enum.IntEnum):
    """The C library's ``style_status`` values (ABI: new values are only appended)."""

    OK = 0
    INVALID_ARGUMENT = 1
    NOMEM = 2
    IO = 3
    FORMAT = 4
    UNSUPPORTED = 5
    LIMIT = 6
    CANCELLED = 7
    BACKEND = 8
    INTERNAL = 9


class LibraryNotFoundError(ImportError):
    """The libstyle shared library could not be found or loaded.

    The message lists every place that was tried and why each one failed; ``.tried`` holds
    the same as a list of ``(place, reason)`` pairs.
    """

    def __init__(self, message: str, tried: Optional[list] = None) -> None:
        super().__init__(message)
        self.tried: list = list(tried or [])


class StyleError(Exception):
    """A libstyle call failed.

    Attributes:
        status: the :class:`Status` the C function returned.
        message: the library's detail message (``style_last_error()``), e.g.
            ``"model_load: candy.safetensors: tensor 'in1.weight' has shape [31], expected [32]"``.
        function: the name of the C function that failed (may be empty).
    """

    #: The status this class stands for (overridden by each subclass).
    default_status: Status = Status.INTERNAL

    def __init__(self, message: str, status: Optional[int] = None, function: str = "") -> None:
        # One positional argument reaches the base classes, so that OSError and MemoryError
        # do not read the status as an errno.
        super().__init__(message)
        self.message: str = message
        code = self.default_status if status is None else status
        try:
            self.status: Status = Status(code)
        except ValueError:  # a status appended by a newer library
            self.status = code  # type: ignore[assignment]
        self.function: str = function

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # keeps pickling (multiprocessing) working with the extra fields
        return (type(self), (self.message, int(self.status), self.function))


class InvalidArgumentError(StyleError, ValueError):
    """STYLE_ERR_INVALID_ARGUMENT: a bad size, mismatched images, an argument out of range."""

    default_status = Status.INVALID_ARGUMENT


class OutOfMemoryError(StyleError, MemoryError):
    """STYLE_ERR_NOMEM: an allocation failed."""

    default_status = Status.NOMEM


class StyleIOError(StyleError, OSError):
    """STYLE_ERR_IO: a file could not be opened, read or written."""

    default_status = Status.IO


class FormatError(StyleError):
    """STYLE_ERR_FORMAT: a file's content is corrupt or malformed."""

    default_status = Status.FORMAT


class UnsupportedError(StyleError):
    """STYLE_ERR_UNSUPPORTED: well-formed but not supported (version, dtype, ...)."""

    default_status = Status.UNSUPPORTED


class LimitError(StyleError):
    """STYLE_ERR_LIMIT: over a configured limit (pixels, model size, memory budget)."""

    default_status = Status.LIMIT


class CancelledError(StyleError):
    """STYLE_ERR_CANCELLED: a progress callback asked to stop."""

    default_status = Status.CANCELLED


class BackendError(StyleError):
    """STYLE_ERR_BACKEND: oneDNN reported a failure."""

    default_status = Status.BACKEND


class InternalError(StyleError):
    """STYLE_ERR_INTERNAL (or a status these bindings do not know): a bug in libstyle."""

    default_status = Status.INTERNAL


_CLASSES: Dict[int, Type[StyleError]] = {
    Status.INVALID_ARGUMENT: InvalidArgumentError,
    Status.NOMEM: OutOfMemoryError,
    Status.IO: StyleIOError,
    Status.FORMAT: FormatError,
    Status.UNSUPPORTED: UnsupportedError,
    Status.LIMIT: LimitError,
    Status.CANCELLED: CancelledError,
    Status.BACKEND: BackendError,
    Status.INTERNAL: InternalError,
}


def error_for_status(status: int, message: str, function: str = "") -> StyleError:
    """Returns (does not raise) the exception for a failed call's status and detail message."""
    cls = _CLASSES.get(int(status), InternalError)
    return cls(message, int(status), function)
