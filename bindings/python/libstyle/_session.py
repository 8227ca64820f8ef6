"""``Session``: per-thread working state that stylizes images with a :class:`Model`."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import threading
from typing import Any, Iterator, List, Optional, Sequence

import numpy as np

from ._callbacks import (
    CallbackErrors,
    LogCallback,
    ProgressCallback,
    log_trampoline,
    progress_trampoline,
)
from ._errors import CancelledError
from ._images import as_input, check_output, describe
from ._lib import LOG_FN, PROGRESS_FN, RunInfoStruct, SessionHandle, StyleImage, lib
from ._model import Model

__all__ = ["Session", "RunInfo", "precision_supported", "PRECISIONS"]

_INT32_MAX = 2**31 - 1
_MAX_THREADS = 4096


def _check_float(value: Any, what: str) -> float:
    """A real number as float (the library checks the range); TypeError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError("%s must be a number, not %s" % (what, type(value).__name__))
    return float(value)


def _check_int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError("%s must be an int, not %s" % (what, type(value).__name__))
    if not low <= value <= high:
        raise ValueError("%s must be in %d..%d, not %d" % (what, low, high, value))
    return int(value)


#: The precision names the library knows (``style_precision_name``), in enum order.
PRECISIONS = ("auto", "fp32", "bf16", "int8")


def _parse_precision(name: Any) -> int:
    """The ``style_precision`` value of a name; TypeError/ValueError for a bad one."""
    if not isinstance(name, str):
        raise TypeError("precision must be a str, not %s" % type(name).__name__)
    if name not in PRECISIONS:
        raise ValueError("unknown precision %r (expected one of %s)"
                         % (name, ", ".join(PRECISIONS)))
    value = ctypes.c_int()
    lib.style_precision_parse(name.encode("ascii"), ctypes.byref(value))
    return int(value.value)


def _precision_name(value: int) -> str:
    return lib.style_precision_name(int(value)).decode("ascii", "replace")


def precision_supported(name: str) -> bool:
    """True when this processor runs precision `name` ("auto", "fp32", "bf16", "int8")
    natively; "fp32" and "auto" always are. ValueError for an unknown name."""
    return bool(lib.style_precision_supported(_parse_precision(name)))


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """What a session's current build is (``style_run_info``)."""

    width: int  #: the width the network runs at (a multiple of 4)
    height: int  #: the height the network runs at (a multiple of 4)
    precision: str  #: the resolved precision ("fp32", "bf16", "int8")
    flops: float  #: per image: 2 x multiply-adds of the model's convolutions
    build_ms: float  #: time the build took (primitives, weight reorders, buffers)
    buffers_ms: float  #: of build_ms: allocating and first-touching the buffers
    memory_bytes: int  #: activations, scratch and reordered weights
    layer_count: int  #: steps of a run
    executed_flops: float  #: per image: 2 x the multiply-adds the kernels execute (sub-pixel
    #: phases of an upsampling convolution: 2.25x fewer than ``flops`` counts for it)


class Session:
    """Stylizes images with a model; one thread at a time per session.

    Args:
        model: the :class:`Model`. The session keeps it (the Python object) alive, and the
            weights stay alive even when ``model.close()`` is called while the session lives.
        threads: threads a run uses; 0 = one per processor.
        memory_budget: cap in bytes on the memory one run may allocate; 0 = 4 GiB. An image
            over it is computed in bands through temporary files (fp32, nearest_conv models;
            the result equals the whole-image one up to float rounding); one that does not
            fit even so raises :class:`LimitError` before allocating anything.
        progress: ``progress(fraction)`` called between layers with the fraction done;
            returning a true value cancels the run, which raises :class:`CancelledError`.
        log: ``log(level, message)`` receives the library's log messages.
        precision: "fp32", "bf16", "int8" or "auto" (the fastest the processor and model
            allow); None keeps the library's default (fp32). One the processor does not run
            natively raises :class:`UnsupportedError`, an unknown name ValueError.
        tileable: True for seamless textures: circular padding through the whole network (AdaIN
            models: the image wrapped around itself for the receptive field),
            so the output tiles when the input does (``style_session_set_tileable``).
        band_rows: > 0 runs every image in bands of at most that many rows even when it fits
            the budget (for tests and comparisons); 0 = bands only when needed.
        strength: how strongly the style is applied, 0..1 (default 1): for the Johnson
            network, the result is strength * stylized + (1 - strength) * input (sRGB values);
            0 returns the input's pixels, 1 the plain stylized image.
        preserve_color: keep the input's colours: the stylized luminance (BT.601 Y) with the
            input's chroma.
        scale: run the network on the input resized by this factor (above 0, at most 8) and
            resize the result back (cubic filter); below 1 the strokes come out larger.
        Out-of-range values raise :class:`InvalidArgumentError` (a ValueError).

    The colour under fully transparent pixels (alpha 0) does not reach the visible ones: it
    is replaced by a fill from the nearest visible pixels before stylizing.

    An exception raised inside `progress` cancels the run and is re-raised from the
    stylize call; one raised inside `log` is re-raised once the call returns.

    Several threads may each run their own session at the same time (the C calls release
    the GIL). Using one session from two threads at once is serialized by a lock.
    """

    def __init__(
        self,
        model: Model,
        *,
        threads: int = 0,
        memory_budget: int = 0,
        progress: Optional[ProgressCallback] = None,
        log: Optional[LogCallback] = None,
        precision: Optional[str] = None,
        tileable: bool = False,
        band_rows: int = 0,
        strength: float = 1.0,
        preserve_color: bool = False,
        scale: float = 1.0,
    ) -> None:
        self._handle: Optional[ctypes._Pointer] = None  # set first: __del__ may run on failure
        if not isinstance(model, Model):
            raise TypeError("model must be a libstyle.Model, not %s" % type(model).__name__)
        threads = _check_int(threads, "threads", 0, _MAX_THREADS)
        memory_budget = _check_int(memory_budget, "memory_budget", 0, 2**64 - 1)
        precision_value = None if precision is None else _parse_precision(precision)
        if not isinstance(tileable, (bool, np.bool_)):
            raise TypeError("tileable must be a bool, not %s" % type(tileable).__name__)
        band_rows = _check_int(band_rows, "band_rows", 0, _INT32_MAX)
        strength = _check_float(strength, "strength")
        scale = _check_float(scale, "scale")
        self._lock = threading.Lock()
        self._owner: Optional[int] = None  # thread running a call, to catch re-entry
        self._errors = CallbackErrors()
        self._progress: Optional[ProgressCallback] = None
        self._log: Optional[LogCallback] = None
        # The ctypes callback objects: the C library holds bare pointers into them.
        self._progress_function: Any = None
        self._log_function: Any = None
        self._threads = threads
        self._memory_budget = memory_budget
        self._tileable = bool(tileable)
        self._band_rows = band_rows
        self._strength = 1.0
        self._preserve_color = False
        self._scale = 1.0
        handle = ctypes.POINTER(SessionHandle)()
        with model._acquire() as model_handle:
            lib.style_session_create(model_handle, ctypes.byref(handle))
        self._handle = handle
        self._model = model  # keeps the Python object alive as long as the session
        try:
            if threads:
                lib.style_session_set_threads(handle, threads)
            if memory_budget:
                lib.style_session_set_memory_budget(handle, memory_budget)
            if precision_value is not None:
                lib.style_session_set_precision(handle, precision_value)
            if tileable:
                lib.style_session_set_tileable(handle, 1)
            if band_rows:
                lib.style_session_set_band_rows(handle, band_rows)
            self.strength = strength
            self.preserve_color = preserve_color
            self.scale = scale
            if progress is not None:
                self.progress = progress
            if log is not None:
                self.log = log
        except BaseException:
            self.close()
            raise

    # ---- lifetime ---------------------------------------------------------------------------

    @property
    def model(self) -> Model:
        """The model the session was made from (possibly closed since)."""
        return self._model

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._handle is None

    def close(self) -> None:
        """Frees the session and its memory. A second call does nothing.

        Waits for a run in progress in another thread; raises RuntimeError when called from
        inside one of this session's own callbacks.
        """
        if self._handle is None:
            return
        with self._running(allow_closed=True) as handle:
            self._handle = None
            if handle is not None:
                lib.style_session_free(handle)
            self._progress_function = self._log_function = None
            self._progress = self._log = None

    def __enter__(self) -> "Session":
        if self._handle is None:
            raise ValueError("the session is closed")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            handle, self._handle = self._handle, None
            if handle:
                lib.style_session_free(handle)
        except Exception:  # interpreter shutdown: the module may be half torn down
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        model = getattr(self, "_model", None)
        return "<libstyle.Session on %r (%s)>" % (getattr(model, "name", "?"), state)

    @contextlib.contextmanager
    def _running(self, allow_closed: bool = False) -> Iterator[Any]:
        """Holds the session for one call; yields the C handle."""
        me = threading.get_ident()
        if self._owner == me:
            raise RuntimeError("a session cannot be used from inside its own callbacks")
        with self._lock:
            handle = self._handle
            if handle is None and not allow_closed:
                raise ValueError("the session is closed")
            self._owner = me
            try:
                yield handle
            finally:
                self._owner = None

    def _call(self, function: Any, *arguments: Any) -> None:
        """Runs a C call that may invoke the callbacks; re-raises what they raised."""
        self._errors.take()
        try:
            function(*arguments)
        except CancelledError as cancelled:
            error = self._errors.take()
            if error is not None:
                raise error from cancelled
            raise
        error = self._errors.take()
        if error is not None:
            raise error

    # ---- AdaIN models: style and controls ----------------------------------------------------

    def adain_style(self, image: Any, style_size: int = 512) -> "AdainStyle":
        """The statistics of a style image (an array as :meth:`stylize` takes, or a file
        path) for this session's AdaIN model, reusable on any session of a model with the
        same encoder. `style_size`: short side the image is resized to first (0: as is)."""
        from ._adain import create_style

        with self._running() as handle:
            return create_style(handle, image, style_size)

    def set_adain_style(
        self,
        style: Any,
        weights: Optional[Sequence[float]] = None,
        style_size: int = 512,
    ) -> None:
        """Sets the style of an AdaIN session: an :class:`AdainStyle`, a style image (array
        or path), or a list of them blended with `weights` (None = equal)."""
        from ._adain import AdainStyle

        items = list(style) if isinstance(style, (list, tuple)) else [style]
        made = [s if isinstance(s, AdainStyle) else self.adain_style(s, style_size) for s in items]
        try:
            blended = AdainStyle.blend(made, weights) if len(made) > 1 or weights else made[0]
            with self._running() as handle:
                lib.style_session_set_adain_style(handle, blended._live())
            if blended is not made[0]:
                blended.close()
        finally:
            for original, item in zip(items, made):
                if item is not original:
                    item.close()

    # ---- settings ---------------------------------------------------------------------------

    @property
    def threads(self) -> int:
        """Threads a run uses; 0 = one per processor."""
        return self._threads

    @threads.setter
    def threads(self, value: int) -> None:
        value = _check_int(value, "threads", 0, _MAX_THREADS)
        with self._running() as handle:
            lib.style_session_set_threads(handle, value)
            self._threads = value

    @property
    def memory_budget(self) -> int:
        """Cap in bytes on the memory of one run; 0 = the default, 4 GiB."""
        return self._memory_budget

    @memory_budget.setter
    def memory_budget(self, value: int) -> None:
        value = _check_int(value, "memory_budget", 0, 2**64 - 1)
        with self._running() as handle:
            lib.style_session_set_memory_budget(handle, value)
            self._memory_budget = value

    @property
    def tileable(self) -> bool:
        """Seamless textures: circular padding, so the output tiles when the input does."""
        return self._tileable

    @tileable.setter
    def tileable(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError("tileable must be a bool, not %s" % type(value).__name__)
        with self._running() as handle:
            lib.style_session_set_tileable(handle, int(bool(value)))
            self._tileable = bool(value)

    @property
    def band_rows(self) -> int:
        """> 0: every image runs in bands of at most this many rows; 0: only when needed."""
        return self._band_rows

    @band_rows.setter
    def band_rows(self, value: int) -> None:
        value = _check_int(value, "band_rows", 0, _INT32_MAX)
        with self._running() as handle:
            lib.style_session_set_band_rows(handle, value)
            self._band_rows = value

    @property
    def strength(self) -> float:
        """How strongly the style is applied, 0..1 (see the class documentation)."""
        return self._strength

    @strength.setter
    def strength(self, value: float) -> None:
        value = _check_float(value, "strength")
        with self._running() as handle:
            lib.style_session_set_strength(handle, value)
            self._strength = value

    @property
    def preserve_color(self) -> bool:
        """Whether the result keeps the input's colours (stylized luminance, input chroma)."""
        return self._preserve_color

    @preserve_color.setter
    def preserve_color(self, value: bool) -> None:
        with self._running() as handle:
            lib.style_session_set_preserve_color(handle, 1 if value else 0)
            self._preserve_color = bool(value)

    @property
    def scale(self) -> float:
        """The factor the input is resized by for the network (the result keeps its size)."""
        return self._scale

    @scale.setter
    def scale(self, value: float) -> None:
        value = _check_float(value, "scale")
        with self._running() as handle:
            lib.style_session_set_scale(handle, value)
            self._scale = value

    @property
    def precision(self) -> str:
        """The precision runs use, "auto" resolved ("fp32", "bf16", "int8").

        Setting it takes "fp32", "bf16", "int8" or "auto"; one the processor does not run
        natively (or int8 for a batch-norm model) raises :class:`UnsupportedError` and keeps
        the previous setting; an unknown name raises ValueError.
        """
        value = ctypes.c_int()
        with self._running() as handle:
            lib.style_session_get_precision(handle, ctypes.byref(value))
        return _precision_name(value.value)

    @precision.setter
    def precision(self, name: str) -> None:
        value = _parse_precision(name)
        with self._running() as handle:
            lib.style_session_set_precision(handle, value)

    def _style_index(self, style: Any) -> int:
        """A style of the model by name, or by index."""
        if isinstance(style, str):
            encoded = style.encode("utf-8")
            if b"\0" in encoded:
                raise ValueError("style name contains a NUL character")
            with self._model._acquire() as model_handle:
                index = lib.style_model_find_style(model_handle, encoded)
            if index < 0:
                raise KeyError("the model has no style %r (its styles: %s)"
                               % (style, ", ".join(self._model.styles) or "none"))
            return index
        if isinstance(style, bool) or not isinstance(style, int):
            raise TypeError("style must be a name (str) or an index (int)")
        if style < 0:
            raise ValueError("style index must be >= 0")
        return style

    def set_style(self, style: Any) -> None:
        """Runs use one style of a model with several styles (``johnson-cin``): a name from
        :attr:`Model.styles` or its index. The default is style 0. An index out of range or a
        single-style model raises :class:`InvalidArgumentError`; an unknown name KeyError."""
        index = self._style_index(style)
        with self._running() as handle:
            lib.style_session_set_style(handle, index)

    def set_style_weights(self, weights: Any) -> None:
        """Runs use a blend of the styles: every instance norm's scale and shift become the
        convex combination ``sum_s w_s * param_s`` (Dumoulin et al.'s interpolation).

        `weights` is a sequence with one weight per style (in :attr:`Model.styles` order) or a
        mapping from style names (or indices) to weights, the styles left out weighing 0.
        Weights must be finite and >= 0 with a positive sum; they are divided by their sum,
        so ``{"a": 1, "b": 3}`` means 25 % a, 75 % b. Invalid weights raise
        :class:`InvalidArgumentError` and keep the previous style.
        """
        count = len(self._model.styles)
        if isinstance(weights, dict):
            values = [0.0] * count
            for key, weight in weights.items():
                index = self._style_index(key)
                if index >= count:
                    raise ValueError("style index %d is out of range (%d styles)" % (index, count))
                values[index] += float(weight)
        else:
            values = [float(weight) for weight in weights]
        array = (ctypes.c_float * max(len(values), 1))(*values)
        with self._running() as handle:
            lib.style_session_set_style_weights(handle, array, len(values))

    @property
    def progress(self) -> Optional[ProgressCallback]:
        """``progress(fraction) -> cancel`` or None."""
        return self._progress

    @progress.setter
    def progress(self, callback: Optional[ProgressCallback]) -> None:
        if callback is not None and not callable(callback):
            raise TypeError("progress must be callable or None")
        function = (
            progress_trampoline(callback, self._errors) if callback is not None else PROGRESS_FN()
        )  # PROGRESS_FN() is a NULL function pointer: removes the callback
        with self._running() as handle:
            lib.style_session_set_progress_callback(handle, function, None)
            # Replaced only once the library no longer points at the old one.
            self._progress_function = function
            self._progress = callback

    @property
    def log(self) -> Optional[LogCallback]:
        """``log(level, message)`` or None."""
        return self._log

    @log.setter
    def log(self, callback: Optional[LogCallback]) -> None:
        if callback is not None and not callable(callback):
            raise TypeError("log must be callable or None")
        function = log_trampoline(callback, self._errors) if callback is not None else LOG_FN()
        with self._running() as handle:
            lib.style_session_set_log_callback(handle, function, None)
            self._log_function = function
            self._log = callback

    # ---- work -------------------------------------------------------------------------------

    def estimate_memory(self, width: int, height: int) -> int:
        """The bytes a run on a width x height image would allocate (what the budget limits)."""
        width = _check_int(width, "width", 1, _INT32_MAX)
        height = _check_int(height, "height", 1, _INT32_MAX)
        result = ctypes.c_uint64()
        with self._running() as handle:
            self._call(lib.style_session_estimate_memory, handle, width, height,
                       ctypes.byref(result))
        return int(result.value)

    def prepare(self, width: int, height: int) -> None:
        """Builds what a run on a width x height image needs without running, so that the
        first image of that size costs no build time."""
        width = _check_int(width, "width", 1, _INT32_MAX)
        height = _check_int(height, "height", 1, _INT32_MAX)
        with self._running() as handle:
            self._call(lib.style_session_prepare, handle, width, height)

    def run_info(self) -> RunInfo:
        """What the current build is (after :meth:`prepare` or a run); raises
        :class:`InvalidArgumentError` when nothing is built yet."""
        info = RunInfoStruct()
        info.struct_size = ctypes.sizeof(RunInfoStruct)
        with self._running() as handle:
            lib.style_session_get_run_info(handle, ctypes.byref(info))
        return RunInfo(
            width=int(info.width),
            height=int(info.height),
            precision=_precision_name(info.precision),
            flops=float(info.flops),
            build_ms=float(info.build_ms),
            buffers_ms=float(info.buffers_ms),
            memory_bytes=int(info.memory_bytes),
            layer_count=int(info.layer_count),
            executed_flops=float(info.executed_flops),
        )

    def stylize(self, image: Any, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Stylizes one image and returns the result.

        `image` is an H x W x 3 (RGB) or H x W x 4 (RGBA) array of uint8, uint16 or float32
        (0..255) samples; its alpha passes through unchanged. Without `out` the result is a
        new array of the same shape and dtype. With `out` (a writable array of the same height
        and width, 3 or 4 channels, any of the three dtypes, contiguous pixels) the result is
        written there and `out` is returned; out may be the input itself.

        Raises ValueError for a wrong dtype, shape or layout, :class:`LimitError` over the
        memory budget, :class:`CancelledError` when the progress callback cancels.
        """
        source = as_input(image)
        target = self._output_for(source, out)
        if out is not None and np.may_share_memory(source, target):
            source = source.copy()
        source_image = describe(source)
        target_image = describe(target)
        with self._running() as handle:
            self._call(lib.style_session_stylize, handle, ctypes.byref(source_image),
                       ctypes.byref(target_image))
        return target

    def stylize_batch(
        self, images: Sequence[Any], out: Optional[Sequence[np.ndarray]] = None
    ) -> List[np.ndarray]:
        """Stylizes several images of one size in one call; returns the list of results.

        Each image follows the rules of :meth:`stylize`; `out`, when given, is a sequence of
        as many output arrays. Progress is reported over the whole batch.
        """
        sources = [as_input(image, "images[%d]" % i) for i, image in enumerate(images)]
        if not sources:
            raise ValueError("images is empty")
        if out is not None and len(out) != len(sources):
            raise ValueError("out has %d arrays for %d images" % (len(out), len(sources)))
        targets = [
            self._output_for(source, None if out is None else out[i], "out[%d]" % i)
            for i, source in enumerate(sources)
        ]
        if out is not None:
            sources = [
                source.copy() if any(np.may_share_memory(source, t) for t in targets) else source
                for source in sources
            ]
        count = len(sources)
        source_images = (StyleImage * count)(*[describe(s) for s in sources])
        target_images = (StyleImage * count)(*[describe(t) for t in targets])
        with self._running() as handle:
            self._call(lib.style_session_stylize_batch, handle, source_images, target_images,
                       count)
        return targets

    def stylize_image(self, image: Any) -> Any:
        """Stylizes a PIL.Image and returns a new PIL.Image (requires Pillow).

        RGB and RGBA images keep their mode; other modes are converted to RGB first, or to
        RGBA when they carry transparency (LA, PA, P with a transparent colour).
        """
        try:
            from PIL import Image
        except ImportError as error:  # pragma: no cover - depends on the installation
            raise ImportError("stylize_image needs Pillow (python3-pil)") from error
        if not isinstance(image, Image.Image):
            raise TypeError("image must be a PIL.Image.Image, not %s" % type(image).__name__)
        if image.mode not in ("RGB", "RGBA"):
            transparent = image.mode in ("LA", "PA", "La", "RGBa") or (
                image.mode == "P" and "transparency" in image.info
            )
            image = image.convert("RGBA" if transparent else "RGB")
        result = self.stylize(np.asarray(image))
        return Image.fromarray(result, image.mode)

    @staticmethod
    def _output_for(source: np.ndarray, out: Optional[np.ndarray], what: str = "out") -> np.ndarray:
        if out is None:
            return np.empty(source.shape, dtype=source.dtype)
        return check_output(out, source.shape[0], source.shape[1], what)
