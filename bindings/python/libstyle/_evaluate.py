"""``evaluate()``: a model against Gatys' optimisation on held-out photos (``style_evaluate``;
see docs/quality.md)."""

from __future__ import annotations

import ctypes
import json
import os
from collections.abc import Iterable
from typing import Any, Callable, Dict, Optional, Sequence

from ._callbacks import CallbackErrors, LogCallback, call_with_callbacks, log_trampoline
from ._images import PathLike, encode_path
from ._lib import (
    EVALUATE_PROGRESS_FN,
    EvaluateOptions,
    EvaluateSummaryStruct,
    lib,
)
from ._train import _int, _path

__all__ = ["EVALUATION_DEFINITION", "evaluate"]

#: The frozen evaluation definition ``style_evaluate`` applies (``STYLE_EVALUATION_DEFINITION``).
EVALUATION_DEFINITION = "johnson-gatys-v1"

_INT32_MAX = 2**31 - 1
_MAX_THREADS = 4096

#: ``progress(event) -> stop``: ``event`` is a dict with ``photo``, ``photos``, ``name``,
#: ``stage`` ("model", "gatys", "gatys-cached", "done"; an AdaIN model's "style-done" after each
#: style, with ``style_summary``, that style's medians), ``iteration``, ``iterations``,
#: ``style``, ``styles`` (index and count of the style images) and ``style_image`` (its name).
EvaluateProgressCallback = Callable[[Dict[str, Any]], object]


def _summary_dict(summary: EvaluateSummaryStruct) -> Dict[str, Any]:
    result: Dict[str, Any] = {
        name: getattr(summary, name) for name, _ in EvaluateSummaryStruct._fields_
    }
    result["gatys_beyond"] = bool(result["gatys_beyond"])
    return result


def _paths(value: Optional[Sequence[PathLike]], what: str) -> list:
    if value is None:
        return []
    if isinstance(value, (str, bytes, os.PathLike)) or not isinstance(value, Iterable):
        raise TypeError("%s must be a list" % what)
    return [encode_path(item, "%s[%d]" % (what, i)) for i, item in enumerate(value)]


def _progress_trampoline(progress: EvaluateProgressCallback, errors: CallbackErrors):
    def trampoline(user, event):
        try:
            e = event.contents
            report: Dict[str, Any] = {
                "photo": int(e.photo), "photos": int(e.photos),
                "name": (e.name or b"").decode("utf-8", "replace"),
                "stage": (e.stage or b"").decode("ascii", "replace"),
                "iteration": int(e.iteration), "iterations": int(e.iterations),
                "style": int(e.style), "styles": int(e.styles),
                "style_image": (e.style_image or b"").decode("utf-8", "replace"),
            }
            if e.style_summary:
                report["style_summary"] = _summary_dict(e.style_summary.contents)
            return 1 if progress(report) else 0
        except BaseException as error:  # noqa: B902 - must not unwind through C
            errors.capture(error)
            return 1

    return EVALUATE_PROGRESS_FN(trampoline)


def evaluate(
    *,
    model: PathLike,
    photos: PathLike,
    photo_list: Optional[PathLike] = None,
    search: Optional[Sequence[PathLike]] = None,
    style_image: Optional[PathLike] = None,
    style_images: Optional[Sequence[PathLike]] = None,
    styles_dir: Optional[PathLike] = None,
    style_list: Optional[PathLike] = None,
    loss_net: Optional[PathLike] = None,
    cache_dir: Optional[PathLike] = None,
    out_dir: Optional[PathLike] = None,
    max_photos: int = 0,
    size: int = 0,
    style_size: int = 0,
    gatys_iterations: int = 0,
    threads: int = 0,
    progress: Optional[EvaluateProgressCallback] = None,
    log: Optional[LogCallback] = None,
) -> Dict[str, Any]:
    """Measures a model against Gatys' optimisation on held-out photos under the frozen
    definition :data:`EVALUATION_DEFINITION` (docs/quality.md), as ``libstyle evaluate``.

    Args:
        model: a single-style (arch johnson) or arbitrary-style (arch adain) model file. An
            AdaIN model is measured on every (style, photo) pair of the styles named by
            `style_image`, `style_images` and `styles_dir`; the summary holds the medians over
            all pairs, the report (and the progress' "style-done" events) those per style.
        photos: a folder of held-out photos (searched recursively).
        photo_list: a sha256sum-format list: only its photos of `photos`, each checked
            against its SHA-256 (models/heldout-photos.sha256).
        search: folders searched for the style image and loss network the model's training
            metadata names (by file name and SHA-256).
        style_image, loss_net: the files themselves (models without training metadata).
        style_images: AdaIN: style images to measure the model on (johnson: at most one).
        styles_dir, style_list: AdaIN: every image of a folder is a style, or only those a
            sha256sum-format list names, each checked against its SHA-256
            (models/heldout-styles.sha256: the held-out styles).
        cache_dir: where Gatys' curves and results are kept by photo, style and objective.
        out_dir: report.csv, report.json and sheets/PHOTO.png (photo | model | Gatys;
            AdaIN: sheets/STYLE/PHOTO.png).
        max_photos: the first N photos only (0: all).
        size, style_size, gatys_iterations: test overrides (0: the definition's 512, the
            model's style size (AdaIN: 512), 300); a report made with them says so.
        threads: 0 = one per processor.
        progress: ``progress(event)`` at every stage and Gatys iteration; true stops the run
            (:class:`CancelledError`).
        log: ``log(level, message)``: which files were found, warnings.

    Returns:
        the summary (medians over the photos: ``photos``, ``total_ratio``,
        ``gatys_equivalent``, ``gatys_beyond``, ``gatys_iterations``, ``color_model``,
        ``color_photo``, ``artifact_score``), with ``report`` (report.json as a dict) when
        `out_dir` is given.
    """
    if progress is not None and not callable(progress):
        raise TypeError("progress must be callable or None")
    if log is not None and not callable(log):
        raise TypeError("log must be callable or None")
    folders = _paths(search, "search")
    folder_array = (ctypes.c_char_p * max(len(folders), 1))(*folders)
    styles = _paths(style_images, "style_images")
    style_array = (ctypes.c_char_p * max(len(styles), 1))(*styles)
    options = EvaluateOptions()
    options.struct_size = ctypes.sizeof(EvaluateOptions)
    keep = {
        "model": encode_path(model, "model"),
        "photos_dir": encode_path(photos, "photos"),
        "photo_list": _path(photo_list, "photo_list"),
        "style_image": _path(style_image, "style_image"),
        "styles_dir": _path(styles_dir, "styles_dir"),
        "style_list": _path(style_list, "style_list"),
        "loss_net": _path(loss_net, "loss_net"),
        "cache_dir": _path(cache_dir, "cache_dir"),
        "out_dir": _path(out_dir, "out_dir"),
    }
    for field, value in keep.items():
        setattr(options, field, value)
    options.search_dirs = folder_array
    options.search_dir_count = len(folders)
    options.style_images = style_array
    options.style_image_count = len(styles)
    options.max_photos = _int(max_photos, "max_photos", 0, 2**62)
    options.size = _int(size, "size", 0, _INT32_MAX)
    options.style_size = _int(style_size, "style_size", 0, _INT32_MAX)
    options.gatys_iterations = _int(gatys_iterations, "gatys_iterations", 0, 100000)
    options.threads = _int(threads, "threads", 0, _MAX_THREADS)
    errors = CallbackErrors()
    progress_function = _progress_trampoline(progress, errors) if progress is not None else None
    log_function = log_trampoline(log, errors) if log is not None else None
    if progress_function is not None:
        options.progress = progress_function
    if log_function is not None:
        options.log = log_function
    summary = EvaluateSummaryStruct()
    try:
        call_with_callbacks(
            lambda: lib.style_evaluate(ctypes.byref(options), ctypes.byref(summary)), errors
        )
    finally:
        del progress_function, log_function, keep, folder_array, style_array
    result = _summary_dict(summary)
    if out_dir is not None:
        with open(os.path.join(os.fsdecode(out_dir), "report.json"), encoding="utf-8") as f:
            result["report"] = json.load(f)
    return result
