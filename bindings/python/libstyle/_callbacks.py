"""Python callables behind the C library's log and progress callbacks.

An exception raised by a Python callback cannot cross the C library. It is caught here,
kept, and raised again by the bindings once the C call has returned; a progress callback
that raises also cancels the run.
"""

from __future__ import annotations

import contextlib
import enum
import signal
import threading
from typing import Any, Callable, Iterator, List, Optional, Union

from ._errors import CancelledError
from ._lib import LOG_FN, PROGRESS_FN

__all__ = [
    "LogLevel",
    "LogCallback",
    "ProgressCallback",
    "CallbackErrors",
    "log_trampoline",
    "progress_trampoline",
    "sigint_stops",
    "call_with_callbacks",
]


class LogLevel(enum.IntEnum):
    """``style_log_level``: the importance of a log message."""

    DEBUG = 0
    INFO = 1
    WARNING = 2


#: ``log(level, message)``: receives the library's log messages.
LogCallback = Callable[[LogLevel, str], object]
#: ``progress(fraction) -> cancel``: fraction done in [0, 1]; return a true value to cancel.
ProgressCallback = Callable[[float], object]


class CallbackErrors:
    """The first exception a callback raised during one C call."""

    __slots__ = ("error",)

    def __init__(self) -> None:
        self.error: Optional[BaseException] = None

    def capture(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error

    def take(self) -> Optional[BaseException]:
        error, self.error = self.error, None
        return error


def _level(value: int) -> Union[LogLevel, int]:
    try:
        return LogLevel(value)
    except ValueError:  # a level appended by a newer library
        return value


def log_trampoline(log: LogCallback, errors: CallbackErrors):
    """A C ``style_log_fn`` calling ``log(level, message)``. Keep it referenced while installed."""

    def trampoline(user, level, message):
        try:
            log(_level(level), (message or b"").decode("utf-8", "replace"))
        except BaseException as error:  # noqa: B902 - must not unwind through C
            errors.capture(error)

    return LOG_FN(trampoline)


def progress_trampoline(progress: ProgressCallback, errors: CallbackErrors):
    """A C ``style_progress_fn`` calling ``progress(fraction)``; a true result cancels the run.

    Keep the returned object referenced while it is installed.
    """

    def trampoline(user, fraction):
        try:
            return 1 if progress(float(fraction)) else 0
        except BaseException as error:  # noqa: B902 - must not unwind through C
            errors.capture(error)
            return 1

    return PROGRESS_FN(trampoline)


@contextlib.contextmanager
def sigint_stops(interrupted: List[bool]) -> Iterator[None]:
    """While training in the main thread with Python's default SIGINT handler, Ctrl-C only
    records itself in `interrupted` (the progress trampoline then stops the run).

    Python runs signal handlers when the next Python code runs, which during the C call is a
    ctypes callback; a KeyboardInterrupt raised there, on entry, could not be caught and
    would be lost. A custom handler the application installed is left alone.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        interrupted[0] = True

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGINT) is handler:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _pending(errors: CallbackErrors, interrupted: Optional[List[bool]]) -> Optional[BaseException]:
    error = errors.take()
    if error is None and interrupted is not None and interrupted[0]:
        error = KeyboardInterrupt()
    return error


def call_with_callbacks(
    call: Callable[[], object], errors: CallbackErrors, interrupted: Optional[List[bool]] = None
) -> None:
    """Runs the C call `call()` whose callbacks capture their exceptions in `errors`, then
    raises the first of them: from the library's CancelledError when the run ended so (a
    callback that raises cancels it). With `interrupted` (training), Ctrl-C only stops the run
    (sigint_stops) and is raised afterwards as KeyboardInterrupt when no callback raised.
    """
    try:
        if interrupted is None:
            call()
        else:
            with sigint_stops(interrupted):
                call()
    except CancelledError as cancelled:
        error = _pending(errors, interrupted)
        if error is not None:
            raise error from cancelled
        raise
    error = _pending(errors, interrupted)
    if error is not None:
        raise error
