"""``VideoSession``: stylizes the frames of a stream, with instance-norm statistics smoothed
over time (``style_video_*``)."""

from __future__ import annotations

import ctypes
import threading
from typing import Any, Iterable, Iterator, Optional

import numpy as np

from ._images import as_input, describe
from ._lib import VideoHandle, VideoSettings, lib
from ._model import Model
from ._session import _check_float, _check_int, _parse_precision

__all__ = ["VideoSession", "DEFAULT_NORM_SMOOTHING", "DEFAULT_TEMPORAL_BLEND"]

#: ``STYLE_DEFAULT_NORM_SMOOTHING``: the weight of the past frames' statistics by default (0:
#: per-frame; docs/video.md has the measurements).
DEFAULT_NORM_SMOOTHING = 0.0

#: ``STYLE_DEFAULT_TEMPORAL_BLEND``: the weight of the warped previous output by default.
DEFAULT_TEMPORAL_BLEND = 0.0


class VideoSession:
    """Stylizes the frames of one video stream in order.

    Args:
        model: the :class:`Model` (kept alive by the session).
        smoothing: weight w in [0, 1) of the past frames' instance-norm statistics: every
            instance norm normalizes with w * previous + (1 - w) * this frame's mean and
            variance. 0 stylizes each frame on its own (bit for bit :meth:`Session.stylize`).
        blend: weight a in [0, 1) of the previous output warped along the motion (the
            library's own estimate), where the motion is reliable: out = S + a * m *
            (warp(previous) - S). 0: no blending.
        threads, precision, strength, preserve_color, scale: as for :class:`Session`.

    Call :meth:`reset` at a scene cut; a frame of another size starts afresh by itself.
    One thread at a time (a lock serializes calls).
    """

    def __init__(
        self,
        model: Model,
        *,
        smoothing: float = DEFAULT_NORM_SMOOTHING,
        blend: float = DEFAULT_TEMPORAL_BLEND,
        threads: int = 0,
        precision: Optional[str] = None,
        strength: float = 1.0,
        preserve_color: bool = False,
        scale: float = 1.0,
    ) -> None:
        self._handle: Optional[ctypes._Pointer] = None
        if not isinstance(model, Model):
            raise TypeError("model must be a libstyle.Model, not %s" % type(model).__name__)
        settings = VideoSettings(
            ctypes.sizeof(VideoSettings),
            _check_float(smoothing, "smoothing"),
            _check_float(blend, "blend"),
        )
        threads = _check_int(threads, "threads", 0, 4096)
        precision_value = None if precision is None else _parse_precision(precision)
        self._lock = threading.Lock()
        handle = ctypes.POINTER(VideoHandle)()
        with model._acquire() as model_handle:
            lib.style_video_create(model_handle, ctypes.byref(settings), ctypes.byref(handle))
        self._handle = handle
        self._model = model
        try:
            session = lib.style_video_session(handle)
            if threads:
                lib.style_session_set_threads(session, threads)
            if precision_value is not None:
                lib.style_session_set_precision(session, precision_value)
            lib.style_session_set_strength(session, _check_float(strength, "strength"))
            lib.style_session_set_preserve_color(session, 1 if preserve_color else 0)
            lib.style_session_set_scale(session, _check_float(scale, "scale"))
        except BaseException:
            self.close()
            raise

    def push(self, frame: Any) -> np.ndarray:
        """Stylizes the next frame (an H x W x 3 or 4 array as :meth:`Session.stylize` takes)
        and returns the result, a new array of the same shape and dtype."""
        source = as_input(frame, "frame")
        target = np.empty(source.shape, dtype=source.dtype)
        source_image, target_image = describe(source), describe(target)
        with self._lock:
            if self._handle is None:
                raise ValueError("the video session is closed")
            lib.style_video_push_frame(self._handle, ctypes.byref(source_image),
                                       ctypes.byref(target_image))
        return target

    def frames(self, frames: Iterable[Any]) -> Iterator[np.ndarray]:
        """The stylized frames of an iterable of frames, one by one."""
        for frame in frames:
            yield self.push(frame)

    def reset(self) -> None:
        """Forgets the past frames (a scene cut)."""
        with self._lock:
            if self._handle is None:
                raise ValueError("the video session is closed")
            lib.style_video_reset(self._handle)

    @property
    def frame_count(self) -> int:
        """Frames stylized so far."""
        with self._lock:
            return int(lib.style_video_frame_count(self._handle)) if self._handle else 0

    def close(self) -> None:
        """Frees the session. A second call does nothing."""
        with self._lock:
            handle, self._handle = self._handle, None
            if handle:
                lib.style_video_free(handle)

    def __enter__(self) -> "VideoSession":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            handle, self._handle = self._handle, None
            if handle:
                lib.style_video_free(handle)
        except Exception:  # interpreter shutdown
            pass
