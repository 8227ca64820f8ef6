"""Arbitrary style at run time (AdaIN, Huang & Belongie): ``AdainStyle`` (a style's
statistics, computed once and reusable) and ``train_adain()`` (docs/adain.md)."""

from __future__ import annotations

import ctypes
import math
from typing import Any, Optional, Sequence, Union

import numpy as np

from ._callbacks import LogCallback
from ._images import PathLike, as_input, describe, encode_path, load_image
from ._lib import AdainStyleHandle, TrainAdainOptions, lib
from ._train import (
    TrainProgressCallback,
    _float,
    _int,
    _path,
    _run_training,
    _style_layers,
    _text,
)

__all__ = ["AdainStyle", "train_adain"]

_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_UINT64_MAX = 2**64 - 1


class AdainStyle:
    """The statistics of a style for an AdaIN model: per-channel mean and standard deviation
    of the style image's features at the model's encoder tap.

    Make one with :meth:`Session.adain_style` (or :meth:`blend` several), then set it on any
    number of sessions of models with the same encoder (``session.set_adain_style(s)``): the style
    image is encoded once, however many frames or images follow.
    """

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    @classmethod
    def blend(
        cls, styles: Sequence["AdainStyle"], weights: Optional[Sequence[float]] = None
    ) -> "AdainStyle":
        """The AdaIN interpolation sum_k w_k AdaIN(c, s_k) (weights normalised to sum to 1;
        None = equal), exact as a weighted mean of the statistics."""
        styles = list(styles)
        if not styles or not all(isinstance(s, AdainStyle) for s in styles):
            raise TypeError("styles must be a non-empty sequence of AdainStyle")
        handles = (ctypes.POINTER(AdainStyleHandle) * len(styles))(*[s._live() for s in styles])
        weight_array = None
        if weights is not None:
            weights = [float(w) for w in weights]
            if len(weights) != len(styles):
                raise ValueError("%d weights for %d styles" % (len(weights), len(styles)))
            if not all(math.isfinite(w) and w >= 0 for w in weights):
                raise ValueError("weights must be finite and >= 0")
            weight_array = (ctypes.c_float * len(weights))(*weights)
        out = ctypes.POINTER(AdainStyleHandle)()
        lib.style_adain_style_blend(handles, weight_array, len(styles), ctypes.byref(out))
        return cls(out)

    def _live(self) -> Any:
        if not self._handle:
            raise ValueError("the style is closed")
        return self._handle

    def _statistics(self) -> Any:
        channels = ctypes.c_int32()
        mean = ctypes.POINTER(ctypes.c_float)()
        std = ctypes.POINTER(ctypes.c_float)()
        lib.style_adain_style_get(self._live(), ctypes.byref(channels), ctypes.byref(mean),
                                  ctypes.byref(std))
        n = int(channels.value)
        return (np.ctypeslib.as_array(mean, shape=(n,)).copy(),
                np.ctypeslib.as_array(std, shape=(n,)).copy())

    @property
    def mean(self) -> np.ndarray:
        """Per-channel means (a copy)."""
        return self._statistics()[0]

    @property
    def std(self) -> np.ndarray:
        """Per-channel standard deviations (a copy)."""
        return self._statistics()[1]

    def close(self) -> None:
        """Frees the statistics. A second call does nothing."""
        handle, self._handle = self._handle, None
        if handle:
            lib.style_adain_style_free(handle)

    def __enter__(self) -> "AdainStyle":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass


def create_style(session_handle: Any, image: Union[PathLike, Any], style_size: int) -> AdainStyle:
    """``style_adain_style_create`` on an array or an image file."""
    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        image = load_image(image)
    source = as_input(image, "style image")
    image_struct = describe(source)
    out = ctypes.POINTER(AdainStyleHandle)()
    lib.style_adain_style_create(session_handle, ctypes.byref(image_struct),
                                 _int(style_size, "style_size", 0, 8192), ctypes.byref(out))
    return AdainStyle(out)


def train_adain(
    *,
    data_dir: Optional[PathLike] = None,
    styles_dir: Optional[PathLike] = None,
    loss_net: Optional[PathLike] = None,
    out: PathLike,
    checkpoint: Optional[PathLike] = None,
    resume: Optional[PathLike] = None,
    tap: Optional[str] = None,
    style_layers: Union[None, str, Sequence[str]] = None,
    crop_size: int = 0,
    batch_size: int = 0,
    iterations: int = 0,
    learning_rate: float = 0.0,
    content_weight: float = 0.0,
    style_weight: float = 0.0,
    seed: int = 0,
    threads: int = 0,
    checkpoint_every: int = 0,
    loss_log: Optional[PathLike] = None,
    progress: Optional[TrainProgressCallback] = None,
    log: Optional[LogCallback] = None,
    init_model: Optional[PathLike] = None,
    loss_shift: int = 0,
    max_short_side: int = 0,
    color_weight: float = 0.0,
    exclude: Optional[PathLike] = None,
    exclude_styles: Optional[PathLike] = None,
    grid_weight: float = 0.0,
    precision: Optional[str] = None,
) -> None:
    """Trains an AdaIN decoder and writes one self-contained model (arch adain) to `out`.

    The encoder is `loss_net` cut at `tap` (None: relu4_1, or the first tap after the third
    pooling: leaky_8 for darknet-tiny); the loss is the content loss at the AdaIN target plus
    the mean/std style loss at `style_layers`; docs/adain.md has the definitions and
    defaults. Every argument is keyword-only; 0 or None takes the library's default.
    Checkpoints, `resume`, `progress` (a :class:`TrainStats` per iteration, tv_loss the grid loss),
    `log`, Ctrl-C and the errors behave as in :func:`train`. The quality options are
    :func:`train`'s: `init_model` (a trained AdaIN model whose decoder the training starts
    from; its encoder must be `loss_net`'s at the same tap), `loss_shift`, `max_short_side`
    (content photos only), `color_weight` (against each pair's style crop), `grid_weight`
    (against a checker locked to the decoder's own grid: 8 pixels for three poolings),
    `exclude` and `exclude_styles` (sha256sum-format held-out lists); `precision` ("fp32",
    "bf16" or "auto") as in :func:`train`, for the decoder's and the loss network's
    convolutions.
    """
    if progress is not None and not callable(progress):
        raise TypeError("progress must be callable or None")
    if log is not None and not callable(log):
        raise TypeError("log must be callable or None")
    options = TrainAdainOptions()
    options.struct_size = ctypes.sizeof(TrainAdainOptions)
    keep = {
        "data_dir": _path(data_dir, "data_dir"),
        "styles_dir": _path(styles_dir, "styles_dir"),
        "loss_net": _path(loss_net, "loss_net"),
        "out_path": encode_path(out, "out"),
        "checkpoint_path": _path(checkpoint, "checkpoint"),
        "resume_path": _path(resume, "resume"),
        "tap": _text(tap, "tap"),
        "style_layers": _style_layers(style_layers),
        "loss_log": _path(loss_log, "loss_log"),
        "init_model": _path(init_model, "init_model"),
        "exclude_list": _path(exclude, "exclude"),
        "style_exclude_list": _path(exclude_styles, "exclude_styles"),
        "precision": _text(precision, "precision"),
    }
    for field, value in keep.items():
        setattr(options, field, value)
    options.crop_size = _int(crop_size, "crop_size", 0, _INT32_MAX)
    options.batch_size = _int(batch_size, "batch_size", 0, _INT32_MAX)
    options.iterations = _int(iterations, "iterations", 0, _INT64_MAX)
    options.learning_rate = _float(learning_rate, "learning_rate")
    options.content_weight = _float(content_weight, "content_weight")
    options.style_weight = _float(style_weight, "style_weight")
    options.seed = _int(seed, "seed", 0, _UINT64_MAX)
    options.threads = _int(threads, "threads", 0, 4096)
    options.checkpoint_every = _int(checkpoint_every, "checkpoint_every", 0, _INT64_MAX)
    options.loss_shift = _int(loss_shift, "loss_shift", 0, _INT32_MAX)
    options.max_short_side = _int(max_short_side, "max_short_side", 0, _INT32_MAX)
    options.color_weight = _float(color_weight, "color_weight")
    options.grid_weight = _float(grid_weight, "grid_weight")

    try:
        _run_training(lib.style_train_adain, options, progress, log)
    finally:
        del keep
