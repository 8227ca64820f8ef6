"""``train()``: training a style model (``style_train``; see docs/training.md)."""

from __future__ import annotations

import ctypes
import dataclasses
import math
import os
from collections.abc import Iterable
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ._callbacks import CallbackErrors, LogCallback, call_with_callbacks, log_trampoline
from ._images import PathLike, encode_path
from ._lib import TRAIN_PROGRESS_FN, TrainOptions, TrainStatsStruct, lib

__all__ = ["TrainStats", "TrainProgressCallback", "train"]

_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_UINT64_MAX = 2**64 - 1
_MAX_THREADS = 4096


@dataclasses.dataclass(frozen=True)
class TrainStats:
    """Where a training run stands (``style_train_stats``), after every iteration."""

    iteration: int  #: iterations completed (counting those of a resumed checkpoint)
    iterations: int  #: iterations planned in all
    content_loss: float  #: weighted content loss, mean over the batch
    style_loss: float  #: weighted style loss (all layers), mean over the batch
    tv_loss: float  #: weighted total-variation loss, mean over the batch
    total_loss: float  #: their sum
    images_per_second: float  #: throughput over the last iterations
    elapsed_seconds: float  #: wall time of this run (not counting earlier resumed runs)
    eta_seconds: float  #: estimated time to the end
    learning_rate: float  #: the rate used for this iteration

    def as_dict(self) -> Dict[str, Any]:
        """The fields as a plain dict."""
        return dataclasses.asdict(self)

    @classmethod
    def _from_struct(cls, stats: TrainStatsStruct) -> "TrainStats":
        return cls(
            iteration=int(stats.iteration),
            iterations=int(stats.iterations),
            content_loss=float(stats.content_loss),
            style_loss=float(stats.style_loss),
            tv_loss=float(stats.tv_loss),
            total_loss=float(stats.total_loss),
            images_per_second=float(stats.images_per_second),
            elapsed_seconds=float(stats.elapsed_seconds),
            eta_seconds=float(stats.eta_seconds),
            learning_rate=float(stats.learning_rate),
        )


#: ``progress(stats) -> stop``: called after every iteration; a true result stops the run.
TrainProgressCallback = Callable[[TrainStats], object]


def _train_progress_trampoline(
    progress: Optional[TrainProgressCallback], errors: CallbackErrors, interrupted: List[bool]
):
    """A C ``style_train_progress_fn`` calling ``progress(TrainStats)``; a true result stops.

    Installed even without a Python callback, so that a Ctrl-C recorded in `interrupted`
    stops the run at the end of the iteration, with a checkpoint. Keep the returned object
    referenced during the call.
    """

    def trampoline(user, stats):
        try:
            if interrupted[0]:
                return 1
            if progress is None:
                return 0
            return 1 if progress(TrainStats._from_struct(stats.contents)) else 0
        except BaseException as error:  # noqa: B902 - must not unwind through C
            errors.capture(error)
            return 1

    return TRAIN_PROGRESS_FN(trampoline)


def _run_training(
    function: Callable[[Any], object],
    options: Any,
    progress: Optional[TrainProgressCallback],
    log: Optional[LogCallback],
) -> None:
    """Runs ``function(&options)`` (style_train or style_train_adain) with `progress` and `log`
    installed; Ctrl-C stops the run with a checkpoint (call_with_callbacks)."""
    # The ctypes callback objects must outlive the C call: the library holds bare pointers.
    errors = CallbackErrors()
    interrupted = [False]
    progress_function = _train_progress_trampoline(progress, errors, interrupted)
    log_function = log_trampoline(log, errors) if log is not None else None
    options.progress = progress_function
    if log_function is not None:
        options.log = log_function
    try:
        call_with_callbacks(lambda: function(ctypes.byref(options)), errors, interrupted)
    finally:
        del progress_function, log_function


# ---- argument checks ---------------------------------------------------------------------------


def _int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError("%s must be an int, not %s" % (what, type(value).__name__))
    if not low <= value <= high:
        raise ValueError("%s must be in %d..%d, not %d" % (what, low, high, value))
    return int(value)


def _float(value: Any, what: str, allow_negative: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError("%s must be a number, not %s" % (what, type(value).__name__))
    result = float(value)
    if not math.isfinite(result):
        raise ValueError("%s must be finite, not %r" % (what, result))
    if result < 0 and not allow_negative:
        raise ValueError("%s must be >= 0 (0 = the default), not %r" % (what, result))
    return result


def _text(value: Optional[str], what: str) -> Optional[bytes]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("%s must be a str or None, not %s" % (what, type(value).__name__))
    encoded = value.encode("utf-8")
    if b"\0" in encoded:
        raise ValueError("%s contains a NUL character" % what)
    return encoded


def _path(value: Optional[PathLike], what: str) -> Optional[bytes]:
    return None if value is None else encode_path(value, what)


def _widths(value: Optional[Sequence[int]]) -> Tuple[int, int, int]:
    if value is None:
        return (0, 0, 0)
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError("widths must be None or a sequence of 3 ints, not %s"
                        % type(value).__name__)
    items = list(value)
    if len(items) != 3:
        raise ValueError("widths must have 3 entries (conv1, conv2, conv3), not %d" % len(items))
    a, b, c = (_int(item, "widths[%d]" % i, 0, _INT32_MAX) for i, item in enumerate(items))
    return (a, b, c)


def _style_layers(value: Union[None, str, Sequence[str]]) -> Optional[bytes]:
    if value is None or isinstance(value, str):
        return _text(value, "style_layers")
    if isinstance(value, bytes) or not isinstance(value, Iterable):
        raise TypeError("style_layers must be None, a str or a sequence of str, not %s"
                        % type(value).__name__)
    names = list(value)
    if not names:
        raise ValueError("style_layers is empty (None takes the loss network's recommendation)")
    for name in names:
        if not isinstance(name, str):
            raise TypeError("style_layers entries must be str, not %s" % type(name).__name__)
        if not name or "," in name:
            raise ValueError("style layer name %r is empty or contains a comma" % name)
    return _text(",".join(names), "style_layers")


# ---- training ----------------------------------------------------------------------------------


def train(
    *,
    style_image: Union[None, PathLike, Sequence[PathLike]] = None,
    style_names: Optional[Sequence[Optional[str]]] = None,
    add_style_to: Optional[PathLike] = None,
    data_dir: Optional[PathLike] = None,
    exclude: Optional[PathLike] = None,
    loss_net: Optional[PathLike] = None,
    out: PathLike,
    checkpoint: Optional[PathLike] = None,
    resume: Optional[PathLike] = None,
    widths: Optional[Sequence[int]] = None,
    residual_blocks: int = 0,
    norm: Optional[str] = None,
    crop_size: int = 0,
    style_size: int = 0,
    batch_size: int = 0,
    iterations: int = 0,
    learning_rate: float = 0.0,
    lr_schedule: Optional[str] = None,
    content_weight: float = 0.0,
    style_weight: float = 0.0,
    tv_weight: float = 0.0,
    color_weight: float = 0.0,
    loss_pooling: Optional[str] = None,
    loss_shift: int = 0,
    init_model: Optional[PathLike] = None,
    max_short_side: int = 0,
    grid_weight: float = 0.0,
    temporal_weight: float = 0.0,
    precision: Optional[str] = None,
    content_layer: Optional[str] = None,
    style_layers: Union[None, str, Sequence[str]] = None,
    seed: int = 0,
    threads: int = 0,
    checkpoint_every: int = 0,
    loss_log: Optional[PathLike] = None,
    progress: Optional[TrainProgressCallback] = None,
    log: Optional[LogCallback] = None,
) -> None:
    """Trains a transform network for one style image and writes it to `out` as a model file.

    Johnson et al.'s perceptual losses against a frozen feature ("loss") network, Adam, on
    random crops of the photos under `data_dir`; docs/training.md has the definitions and
    defaults. Every argument is keyword-only; 0 or None takes the library's default.

    Args:
        style_image: the style (PNG or JPEG), or a list of several: they train one model
            with a style each (``johnson-cin``, conditional instance norm, Dumoulin et al.:
            shared convolutions, a scale and shift per style; each batch trains one style,
            in turn).
        style_names: a name per style image (None, or a None entry: the file name without
            its extension).
        add_style_to: a trained model (``johnson-cin``, or a single-style instance-norm
            one): the one `style_image` is added to it as a new style, training only that
            style's scales and shifts; the architecture comes from the model, whose
            convolutions and other styles stay bit-identical.
        data_dir: a folder of content photos (.png, .jpg, .jpeg), searched recursively.
        exclude: a sha256sum-format list of held-out photos (models/heldout-photos.sha256):
            photos of data_dir with a listed SHA-256 are refused, whatever their name.
        loss_net: the feature network file: a VGG-16/19 state_dict as safetensors, or a
            libstyle feature-net file. The three inputs may be left out with `resume`: they
            then come from the checkpoint.
        out: the final model file (loadable with :class:`Model`).
        checkpoint: where checkpoints go; None = ``out + ".ckpt"``.
        resume: a checkpoint to continue from (its settings win over the arguments below,
            except `iterations`); a resumed run continues bit-identically.
        widths: channel widths ``(conv1, conv2, conv3)``; None = (32, 64, 128).
        residual_blocks: number of residual blocks; 0 = 5.
        norm: "instance" (None) or "batch".
        crop_size: training crop in pixels, a multiple of 4 in 16..4096; 0 = 256.
        style_size: short side of the style image in pixels; 0 = the crop size.
        batch_size: photos per iteration; 0 = 4.
        iterations: iterations in all; 0 = 2000 (on resume: the checkpoint's).
        learning_rate: Adam's rate; 0 = 1e-3.
        lr_schedule: "cosine" (None: decays to 10 % at the end) or "constant".
        content_weight: weight of the content loss; 0 = 1; a negative value disables it.
        style_weight: weight of the style loss; 0 = the loss network's default (2); a
            negative value disables it.
        tv_weight: weight of the total-variation loss; 0 = 50; a negative value disables
            the TV loss.
        color_weight: weight of the colour loss (the output's RGB mean and covariance
            against the style image's); 0 = none.
        loss_pooling: "max" (None: as the loss network is) or "avg": the loss network's
            max pools run as average pools while training (keeps the period-4 grid out).
        loss_shift: 0 = none; N: the loss network sees the (crop - N)^2 window of output
            and photo at a random offset of 0..N pixels (no pattern can align to its
            pooling grid); at most crop_size / 4.
        init_model: a trained single-style model to start from (a warm start: its weights,
            widths, blocks and norm); None = a random initialisation.
        max_short_side: 0 = each crop's photo is scaled to a short side drawn from
            [crop_size, its own]; N = from [crop_size, min(its own, N)] (the scale the model
            will be used at).
        grid_weight: weight of the grid loss (0 = none): per 64 x 64 tile and channel of
            the output, the variance of the means of its 16 pixel phases (y mod 4, x mod 4),
            so a pattern locked to the network's 4-pixel grid (the weave) costs; about 1000.
        temporal_weight: weight of the temporal loss for video (0 = none): in each pair of
            crops the second is the first moved by a random sub-pixel translation (up to 4
            pixels) and must be painted as the first's painting, moved; batch_size >= 2.
        precision: the convolutions' arithmetic: "fp32" (None, the default), "bf16" (bf16
            convolutions with f32 weights, Adam state, norms and losses; refused where the
            processor lacks AVX-512 BF16 and AMX) or "auto" (bf16 where native, else fp32).
            Recorded in the checkpoint, which `resume` follows unless this is given.
        content_layer: the loss network's tap for the content loss; None = its recommendation.
        style_layers: the taps of the style loss, a list of names or a comma-separated
            string; None = the loss network's recommendation.
        seed: initialisation and data order (0 is a valid seed). With the same seed and
            `threads` a run is deterministic.
        threads: threads to use; 0 = one per processor.
        checkpoint_every: iterations between checkpoints; 0 = 100.
        loss_log: a CSV file that every iteration's losses are appended to.
        progress: ``progress(stats)`` with a :class:`TrainStats` after every iteration;
            returning a true value stops the run: a checkpoint is saved and
            :class:`CancelledError` is raised, its message naming the checkpoint (a stop
            requested after the last iteration just finishes).
        log: ``log(level, message)`` receives information and warnings (skipped photos).

    An exception raised inside `progress` stops the run at the end of the current iteration,
    with a checkpoint, and is re-raised (chained to the :class:`CancelledError`); one raised
    inside `log` is re-raised once the run has returned. Ctrl-C (SIGINT, with Python's
    default handler, in the main thread) likewise stops the run with a checkpoint and raises
    KeyboardInterrupt. Failures raise the
    :class:`StyleError` subclass of the C status, e.g. :class:`StyleIOError` for a missing
    file, :class:`InvalidArgumentError` for a bad setting, with the path or setting named in
    the message. The call releases the GIL while it runs.
    """
    if progress is not None and not callable(progress):
        raise TypeError("progress must be callable or None")
    if log is not None and not callable(log):
        raise TypeError("log must be callable or None")
    options = TrainOptions()
    options.struct_size = ctypes.sizeof(TrainOptions)
    # The encoded strings: ctypes keeps what is assigned to c_char_p fields, and so do these.
    several = style_image is not None and not isinstance(style_image, (str, bytes, os.PathLike))
    images = [_path(image, "style_image") for image in style_image] if several else []
    if several and not images:
        raise ValueError("style_image is an empty list")
    names = list(style_names) if style_names is not None else []
    if names and len(names) != max(len(images), 1):
        raise ValueError("style_names needs one entry per style image")
    encoded_names = [_text(name, "style_names") for name in names]
    image_array = (ctypes.c_char_p * max(len(images), 1))(*images)
    name_array = (ctypes.c_char_p * max(len(encoded_names), 1))(*encoded_names)
    keep = {
        "style_image": images[0] if several else _path(style_image, "style_image"),
        "add_style_to": _path(add_style_to, "add_style_to"),
        "data_dir": _path(data_dir, "data_dir"),
        "exclude_list": _path(exclude, "exclude"),
        "loss_net": _path(loss_net, "loss_net"),
        "out_path": encode_path(out, "out"),
        "checkpoint_path": _path(checkpoint, "checkpoint"),
        "resume_path": _path(resume, "resume"),
        "norm": _text(norm, "norm"),
        "lr_schedule": _text(lr_schedule, "lr_schedule"),
        "content_layer": _text(content_layer, "content_layer"),
        "style_layers": _style_layers(style_layers),
        "loss_log": _path(loss_log, "loss_log"),
        "loss_pooling": _text(loss_pooling, "loss_pooling"),
        "init_model": _path(init_model, "init_model"),
        "precision": _text(precision, "precision"),
    }
    for field, value in keep.items():
        setattr(options, field, value)
    if several:
        options.style_images = image_array
        options.style_image_count = len(images)
    if encoded_names:
        options.style_names = name_array
    options.widths[:] = _widths(widths)
    options.residual_blocks = _int(residual_blocks, "residual_blocks", 0, _INT32_MAX)
    options.crop_size = _int(crop_size, "crop_size", 0, _INT32_MAX)
    options.style_size = _int(style_size, "style_size", 0, _INT32_MAX)
    options.batch_size = _int(batch_size, "batch_size", 0, _INT32_MAX)
    options.iterations = _int(iterations, "iterations", 0, _INT64_MAX)
    options.learning_rate = _float(learning_rate, "learning_rate")
    options.content_weight = _float(content_weight, "content_weight", allow_negative=True)
    options.style_weight = _float(style_weight, "style_weight", allow_negative=True)
    options.tv_weight = _float(tv_weight, "tv_weight", allow_negative=True)
    options.color_weight = _float(color_weight, "color_weight")
    options.loss_shift = _int(loss_shift, "loss_shift", 0, _INT32_MAX)
    options.max_short_side = _int(max_short_side, "max_short_side", 0, _INT32_MAX)
    options.grid_weight = _float(grid_weight, "grid_weight")
    options.temporal_weight = _float(temporal_weight, "temporal_weight")
    options.seed = _int(seed, "seed", 0, _UINT64_MAX)
    options.threads = _int(threads, "threads", 0, _MAX_THREADS)
    options.checkpoint_every = _int(checkpoint_every, "checkpoint_every", 0, _INT64_MAX)

    try:
        _run_training(lib.style_train, options, progress, log)
    finally:
        # Referenced until here: the library held bare pointers into them during the call.
        del keep, image_array, name_array
