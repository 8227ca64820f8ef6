"""``optimize()``: Gatys et al.'s optimisation-based style transfer (``style_optimize``;
see docs/gatys.md)."""

from __future__ import annotations

import ctypes
import dataclasses
from collections.abc import Iterable
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ._callbacks import CallbackErrors, LogCallback, call_with_callbacks, log_trampoline
from ._images import PathLike, encode_path, take_library_image
from ._lib import (
    OPTIMIZE_PROGRESS_FN,
    LossesStruct,
    OptimizeOptions,
    OptimizeStatsStruct,
    StyleImage,
    lib,
)
from ._train import _float, _int, _path, _style_layers, _text

__all__ = ["OptimizeStats", "OptimizeProgressCallback", "optimize"]

_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_UINT64_MAX = 2**64 - 1
_MAX_THREADS = 4096
_MAX_STYLES = 64


@dataclasses.dataclass(frozen=True)
class OptimizeStats:
    """Where an optimisation stands (``style_optimize_stats``), after every iteration."""

    iteration: int  #: iterations completed
    iterations: int  #: iterations planned
    evaluations: int  #: loss-and-gradient evaluations so far
    content_loss: float  #: weighted content loss of the current image
    style_loss: float  #: weighted style loss, all layers
    tv_loss: float  #: weighted total-variation loss
    total_loss: float  #: their sum
    elapsed_seconds: float  #: wall time since the optimisation started
    eta_seconds: float  #: estimated time to the last iteration

    def as_dict(self) -> Dict[str, Any]:
        """The fields as a plain dict."""
        return dataclasses.asdict(self)

    @classmethod
    def _from_struct(cls, stats: OptimizeStatsStruct) -> "OptimizeStats":
        return cls(
            iteration=int(stats.iteration),
            iterations=int(stats.iterations),
            evaluations=int(stats.evaluations),
            content_loss=float(stats.content_loss),
            style_loss=float(stats.style_loss),
            tv_loss=float(stats.tv_loss),
            total_loss=float(stats.total_loss),
            elapsed_seconds=float(stats.elapsed_seconds),
            eta_seconds=float(stats.eta_seconds),
        )


#: ``progress(stats) -> stop``: called after every iteration; a true result stops the run.
OptimizeProgressCallback = Callable[[OptimizeStats], object]


def _optimize_progress_trampoline(progress: OptimizeProgressCallback, errors: CallbackErrors):
    """A C ``style_optimize_progress_fn`` calling ``progress(OptimizeStats)``; keep it alive."""

    def trampoline(user, stats):
        try:
            return 1 if progress(OptimizeStats._from_struct(stats.contents)) else 0
        except BaseException as error:  # noqa: B902 - must not unwind through C
            errors.capture(error)
            return 1

    return OPTIMIZE_PROGRESS_FN(trampoline)


def _style_paths(value: Union[PathLike, Sequence[PathLike]]) -> List[bytes]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return [encode_path(value, "style_images")]  # type: ignore[arg-type]
    paths = [encode_path(item, "style_images[%d]" % i) for i, item in enumerate(value)]
    if not paths:
        raise ValueError("style_images is empty")
    if len(paths) > _MAX_STYLES:
        raise ValueError("style_images has %d entries, at most %d" % (len(paths), _MAX_STYLES))
    return paths


def _blend(value: Optional[Sequence[float]], count: int) -> Optional[List[float]]:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError("style_weights must be None or a sequence of numbers, not %s"
                        % type(value).__name__)
    weights = [_float(item, "style_weights[%d]" % i) for i, item in enumerate(value)]
    if len(weights) != count:
        raise ValueError("style_weights has %d entries for %d style images"
                         % (len(weights), count))
    if not any(weights):
        raise ValueError("style_weights are all zero")
    return weights


def _problem_options(content: PathLike, style_images: Union[PathLike, Sequence[PathLike]],
                     style_weights: Optional[Sequence[float]], loss_net: PathLike, size: int,
                     style_size: int, content_weight: float, style_weight: float,
                     tv_weight: float, content_layer: Optional[str],
                     style_layers: Union[None, str, Sequence[str]],
                     threads: int) -> Tuple[OptimizeOptions, Dict[str, Any]]:
    """The options describing the problem (content, styles, losses), and the objects they
    point into (keep them referenced until the C call returns)."""
    styles = _style_paths(style_images)
    weights = _blend(style_weights, len(styles))
    options = OptimizeOptions()
    options.struct_size = ctypes.sizeof(OptimizeOptions)
    keep: Dict[str, Any] = {
        "content_image": encode_path(content, "content"),
        "loss_net": encode_path(loss_net, "loss_net"),
        "content_layer": _text(content_layer, "content_layer"),
        "style_layers": _style_layers(style_layers),
    }
    for field, value in keep.items():
        setattr(options, field, value)
    style_array = (ctypes.c_char_p * len(styles))(*styles)
    keep["style_images"] = (styles, style_array)
    options.style_images = ctypes.cast(style_array, ctypes.POINTER(ctypes.c_char_p))
    options.style_count = len(styles)
    if weights is not None:
        blend_array = (ctypes.c_double * len(weights))(*weights)
        keep["style_blend"] = blend_array
        options.style_blend = ctypes.cast(blend_array, ctypes.POINTER(ctypes.c_double))
    options.size = _int(size, "size", 0, _INT32_MAX)
    options.style_size = _int(style_size, "style_size", 0, _INT32_MAX)
    options.content_weight = _float(content_weight, "content_weight", allow_negative=True)
    options.style_weight = _float(style_weight, "style_weight", allow_negative=True)
    options.tv_weight = _float(tv_weight, "tv_weight", allow_negative=True)
    options.threads = _int(threads, "threads", 0, _MAX_THREADS)
    return options, keep


def evaluate_losses(
    image: PathLike,
    *,
    content: PathLike,
    style_images: Union[PathLike, Sequence[PathLike]],
    style_weights: Optional[Sequence[float]] = None,
    loss_net: PathLike,
    size: int = 0,
    style_size: int = 0,
    content_weight: float = 0.0,
    style_weight: float = 0.0,
    tv_weight: float = 0.0,
    content_layer: Optional[str] = None,
    style_layers: Union[None, str, Sequence[str]] = None,
    threads: int = 0,
) -> Dict[str, float]:
    """The losses :func:`optimize` minimises, of the image file `image` (resized to the
    problem's size): ``{"content", "style", "tv", "total"}``, weighted as optimize's progress
    reports them (a term turned off is 0). The arguments describe the problem as for
    :func:`optimize`. Use it to score any image, e.g. a trained model's output, against
    Gatys' objective (``style_evaluate_losses``)."""
    options, keep = _problem_options(
        content, style_images, style_weights, loss_net, size, style_size, content_weight,
        style_weight, tv_weight, content_layer, style_layers, threads)
    path = encode_path(image, "image")
    losses = LossesStruct()
    try:
        lib.style_evaluate_losses(ctypes.byref(options), path, ctypes.byref(losses))
    finally:
        del keep
    return {"content": losses.content, "style": losses.style, "tv": losses.tv,
            "total": losses.total}


def optimize(
    *,
    content: PathLike,
    style_images: Union[PathLike, Sequence[PathLike]],
    style_weights: Optional[Sequence[float]] = None,
    loss_net: PathLike,
    out: Optional[PathLike] = None,
    size: int = 0,
    style_size: int = 0,
    iterations: int = 0,
    optimizer: Optional[str] = None,
    learning_rate: float = 0.0,
    init: Optional[str] = None,
    content_weight: float = 0.0,
    style_weight: float = 0.0,
    tv_weight: float = 0.0,
    content_layer: Optional[str] = None,
    style_layers: Union[None, str, Sequence[str]] = None,
    preserve_color: bool = False,
    seed: int = 0,
    threads: int = 0,
    log_csv: Optional[PathLike] = None,
    progress: Optional[OptimizeProgressCallback] = None,
    log: Optional[LogCallback] = None,
) -> np.ndarray:
    """Styles one photo by optimising its pixels (Gatys et al.); returns the result.

    No model is trained: the image itself is optimised until its features in the loss
    network match the photo's content and the style images' Gram matrices. docs/gatys.md
    has the losses, optimisers and defaults. Every argument is keyword-only; 0 or None takes
    the library's default.

    Args:
        content: the photo (PNG or JPEG).
        style_images: a style image path, or a list of up to 64 to blend.
        style_weights: one weight >= 0 per style image (normalised to sum 1); None = equal.
        loss_net: the feature network file (VGG-16/19 safetensors or a libstyle feature-net).
        out: a PNG/JPEG file the result is also written to (atomically, clamped to 0..255).
        size: long side of the result in pixels (the photo is resized to it); 0 = 512.
        style_size: short side of every style image; 0 = the result's short side.
        iterations: 0 = 300.
        optimizer: "lbfgs" (None) or "adam".
        learning_rate: Adam's step in pixel units (0..255 scale); 0 = 4.
        init: "content" (None) or "noise" (uniform 0..255 drawn from `seed`).
        content_weight, style_weight, tv_weight: loss weights; 0 = the defaults (1, 2, 50);
            a negative value turns the term off.
        content_layer: the loss network's tap for the content loss; None = recommended.
        style_layers: the taps of the style loss, a list or a comma-separated string;
            None = recommended.
        preserve_color: keep the photo's colours (the result's luminance, the photo's chroma).
        seed: the noise of ``init="noise"``.
        threads: threads to use; 0 = one per processor.
        log_csv: a CSV file of the per-iteration losses (rewritten).
        progress: ``progress(stats)`` with an :class:`OptimizeStats` after every iteration;
            a true result stops the run: the current image is still written to `out` and
            :class:`CancelledError` is raised.
        log: ``log(level, message)`` receives information (sizes, layers, timing).

    Returns:
        the result as a new H x W x 3 float32 array of 0..255 values.

    An exception raised inside `progress` stops the run and is re-raised (chained to the
    :class:`CancelledError`); one raised inside `log` is re-raised once the run has returned.
    Failures raise the :class:`StyleError` subclass of the C status. The call releases the
    GIL while it runs.
    """
    if progress is not None and not callable(progress):
        raise TypeError("progress must be callable or None")
    if log is not None and not callable(log):
        raise TypeError("log must be callable or None")
    if not isinstance(preserve_color, (bool, int, np.bool_)):
        raise TypeError("preserve_color must be a bool, not %s" % type(preserve_color).__name__)
    options, keep = _problem_options(
        content, style_images, style_weights, loss_net, size, style_size, content_weight,
        style_weight, tv_weight, content_layer, style_layers, threads)
    more = {
        "out_path": _path(out, "out"),
        "optimizer": _text(optimizer, "optimizer"),
        "init": _text(init, "init"),
        "log_csv": _path(log_csv, "log_csv"),
    }
    for field, value in more.items():
        setattr(options, field, value)
    keep.update(more)
    options.iterations = _int(iterations, "iterations", 0, _INT64_MAX)
    options.learning_rate = _float(learning_rate, "learning_rate")
    options.preserve_color = 1 if preserve_color else 0
    options.seed = _int(seed, "seed", 0, _UINT64_MAX)
    result = StyleImage()
    options.result = ctypes.pointer(result)

    # The ctypes callback objects must outlive the C call: the library holds bare pointers.
    errors = CallbackErrors()
    progress_function = (
        _optimize_progress_trampoline(progress, errors) if progress is not None else None
    )
    log_function = log_trampoline(log, errors) if log is not None else None
    if progress_function is not None:
        options.progress = progress_function
    if log_function is not None:
        options.log = log_function
    try:
        call_with_callbacks(lambda: lib.style_optimize(ctypes.byref(options)), errors)
    finally:
        # Referenced until here: the library held bare pointers into them during the call.
        del progress_function, log_function, keep
        # Copied and released whatever happened (the library leaves it empty on failure).
        pixels = take_library_image(result) if result.data else None
    if pixels is None:  # pragma: no cover - the library fills result on success
        raise RuntimeError("style_optimize returned no result")
    if pixels.dtype != np.float32:  # pragma: no cover - the library documents F32
        pixels = pixels.astype(np.float32)
    return pixels
