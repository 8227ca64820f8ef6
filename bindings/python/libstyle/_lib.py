"""Finding the libstyle shared library and declaring its C API (include/libstyle.h) to ctypes.

The library is looked for, in order:

1. ``$LIBSTYLE_LIBRARY``: the path of the library file (or a directory holding it). When the
   variable is set it is the only place tried, so a wrong value is an error rather than a
   silent fall-back to another copy of the library;
2. next to this package: ``libstyle/libstyle.so*`` (the copy that ``pip install`` bundles
   from the build tree, see setup.py);
3. the system: ``ctypes.util.find_library("style")``, then ``libstyle.so.0`` and
   ``libstyle.so`` through the dynamic loader's own search (``LD_LIBRARY_PATH``, ld.so.cache),
   then ``libstyle.so.0`` (the SONAME) in ``/usr/local/lib``, where ``cmake --install`` puts it
   by default and where the loader looks only after ``ldconfig``.

Every function that returns a ``style_status`` gets an ``errcheck`` that turns a failure
into the matching :class:`~libstyle.StyleError` subclass, carrying the detail message read
from ``style_last_error()`` right after the call, in the same thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sys
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_double,
    c_float,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint,
    c_uint64,
    c_void_p,
)
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ._errors import LibraryNotFoundError, error_for_status

__all__ = [
    "lib",
    "library_path",
    "load_library",
    "StyleImage",
    "LoadOptions",
    "ModelInfoStruct",
    "TrainStatsStruct",
    "TrainOptions",
    "ModelHandle",
    "SessionHandle",
    "LOG_FN",
    "PROGRESS_FN",
    "TRAIN_PROGRESS_FN",
    "SAMPLE_U8",
    "SAMPLE_U16",
    "SAMPLE_F32",
    "FUNCTIONS",
]

#: The library's ABI major version these bindings were written for (LIBSTYLE_VERSION_MAJOR).
SUPPORTED_MAJOR = 0

ENV_VARIABLE = "LIBSTYLE_LIBRARY"

# ---- C types ----------------------------------------------------------------------------------

c_status = c_int  # enum style_status
c_log_level = c_int  # enum style_log_level
c_sample_type = c_int  # enum style_sample_type

SAMPLE_U8 = 0
SAMPLE_U16 = 1
SAMPLE_F32 = 2


class StyleImage(Structure):
    """``style_image``: interleaved RGB/RGBA samples, rows ``stride`` bytes apart (0 = packed)."""

    _fields_ = [
        ("width", c_int32),
        ("height", c_int32),
        ("channels", c_int32),
        ("sample_type", c_sample_type),
        ("stride", c_size_t),
        ("data", c_void_p),
    ]


#: ``void (*style_log_fn)(void *user, style_log_level level, const char *message)``
LOG_FN = CFUNCTYPE(None, c_void_p, c_log_level, c_char_p)
#: ``int (*style_progress_fn)(void *user, double fraction)``
PROGRESS_FN = CFUNCTYPE(c_int, c_void_p, c_double)


class LoadOptions(Structure):
    """``style_load_options``; set ``struct_size = ctypes.sizeof(LoadOptions)``."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("log", LOG_FN),
        ("log_user", c_void_p),
        ("max_bytes", c_uint64),
        ("max_header_bytes", c_uint64),
        ("max_tensors", c_uint64),
        ("max_tensor_bytes", c_uint64),
    ]


class SaveOptions(Structure):
    """``style_save_options``; set ``struct_size = ctypes.sizeof(SaveOptions)``."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("quality", c_int),
        ("png_level", c_int),
    ]


#: ``STYLE_PNG_LEVEL_STORED``: ``png_level`` for zlib level 0 (0 itself is the default).
PNG_LEVEL_STORED = -1


class ModelInfoStruct(Structure):
    """``style_model_info``; the strings belong to the model."""

    _fields_ = [
        ("arch", c_char_p),
        ("padding", c_char_p),
        ("upsample", c_char_p),
        ("norm", c_char_p),
        ("output", c_char_p),
        ("final_norm", c_char_p),
        ("norm_eps", c_float),
        ("format_version", c_int32),
        ("widths", c_int32 * 3),
        ("residual_blocks", c_int32),
        ("has_bias", c_int32),
        ("parameter_count", c_uint64),
    ]


class TrainStatsStruct(Structure):
    """``style_train_stats``: where a training run stands (passed to the progress callback)."""

    _fields_ = [
        ("iteration", c_int64),
        ("iterations", c_int64),
        ("content_loss", c_double),
        ("style_loss", c_double),
        ("tv_loss", c_double),
        ("total_loss", c_double),
        ("images_per_second", c_double),
        ("elapsed_seconds", c_double),
        ("eta_seconds", c_double),
        ("learning_rate", c_double),
    ]


#: ``int (*style_train_progress_fn)(void *user, const style_train_stats *stats)``
TRAIN_PROGRESS_FN = CFUNCTYPE(c_int, c_void_p, POINTER(TrainStatsStruct))
CANCEL_FN = CFUNCTYPE(c_int, c_void_p)


class TrainOptions(Structure):
    """``style_train_options``; set ``struct_size = ctypes.sizeof(TrainOptions)``.

    Zero fields take the library's defaults (docs/training.md).
    """

    _fields_ = [
        ("struct_size", c_size_t),
        ("style_image", c_char_p),
        ("data_dir", c_char_p),
        ("loss_net", c_char_p),
        ("out_path", c_char_p),
        ("checkpoint_path", c_char_p),
        ("resume_path", c_char_p),
        ("widths", c_int32 * 3),
        ("residual_blocks", c_int32),
        ("norm", c_char_p),
        ("crop_size", c_int32),
        ("style_size", c_int32),
        ("batch_size", c_int32),
        ("iterations", c_int64),
        ("learning_rate", c_double),
        ("lr_schedule", c_char_p),
        ("content_weight", c_double),
        ("style_weight", c_double),
        ("tv_weight", c_double),
        ("content_layer", c_char_p),
        ("style_layers", c_char_p),
        ("seed", c_uint64),
        ("threads", c_int),
        ("checkpoint_every", c_int64),
        ("loss_log", c_char_p),
        ("progress", TRAIN_PROGRESS_FN),
        ("progress_user", c_void_p),
        ("log", LOG_FN),
        ("log_user", c_void_p),
        ("group", c_void_p),  # const style_train_group *: data-parallel processes; NULL here
        ("style_images", POINTER(c_char_p)),
        ("style_image_count", c_size_t),
        ("style_names", POINTER(c_char_p)),
        ("add_style_to", c_char_p),
        ("cancel", CANCEL_FN),  # style_cancel_fn: asked inside every iteration; NULL here
        ("cancel_user", c_void_p),
        ("exclude_list", c_char_p),
        ("loss_pooling", c_char_p),
        ("color_weight", c_double),
        ("loss_shift", c_int32),
        ("init_model", c_char_p),
        ("max_short_side", c_int32),
        ("grid_weight", c_double),
        ("temporal_weight", c_double),
        ("precision", c_char_p),
    ]


class TrainAdainOptions(Structure):
    """``style_train_adain_options``; set ``struct_size = ctypes.sizeof(TrainAdainOptions)``."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("data_dir", c_char_p),
        ("styles_dir", c_char_p),
        ("loss_net", c_char_p),
        ("out_path", c_char_p),
        ("checkpoint_path", c_char_p),
        ("resume_path", c_char_p),
        ("tap", c_char_p),
        ("style_layers", c_char_p),
        ("crop_size", c_int32),
        ("batch_size", c_int32),
        ("iterations", c_int64),
        ("learning_rate", c_double),
        ("content_weight", c_double),
        ("style_weight", c_double),
        ("seed", c_uint64),
        ("threads", c_int),
        ("checkpoint_every", c_int64),
        ("loss_log", c_char_p),
        ("progress", TRAIN_PROGRESS_FN),
        ("progress_user", c_void_p),
        ("log", LOG_FN),
        ("log_user", c_void_p),
        ("init_model", c_char_p),
        ("loss_shift", c_int32),
        ("max_short_side", c_int32),
        ("color_weight", c_double),
        ("exclude_list", c_char_p),
        ("style_exclude_list", c_char_p),
        ("grid_weight", c_double),
        ("precision", c_char_p),
    ]


class AdainStyleHandle(Structure):
    """Opaque ``style_adain_style``; only ever used through a pointer."""


class ModelHandle(Structure):
    """Opaque ``style_model``; only ever used through a pointer."""


class SessionHandle(Structure):
    """Opaque ``style_session``; only ever used through a pointer."""


class VideoHandle(Structure):
    """Opaque ``style_video``; only ever used through a pointer."""


class VideoSettings(Structure):
    """``style_video_settings``."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("norm_smoothing", c_float),
        ("temporal_blend", c_float),
    ]


class OptimizeStatsStruct(Structure):
    """``style_optimize_stats``."""

    _fields_ = [
        ("iteration", c_int64),
        ("iterations", c_int64),
        ("evaluations", c_int64),
        ("content_loss", c_double),
        ("style_loss", c_double),
        ("tv_loss", c_double),
        ("total_loss", c_double),
        ("elapsed_seconds", c_double),
        ("eta_seconds", c_double),
    ]


OPTIMIZE_PROGRESS_FN = CFUNCTYPE(c_int, c_void_p, POINTER(OptimizeStatsStruct))


class OptimizeOptions(Structure):
    """``style_optimize_options``; set ``struct_size = ctypes.sizeof(OptimizeOptions)``."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("content_image", c_char_p),
        ("style_images", POINTER(c_char_p)),
        ("style_count", c_size_t),
        ("style_blend", POINTER(c_double)),
        ("loss_net", c_char_p),
        ("out_path", c_char_p),
        ("result", POINTER(StyleImage)),
        ("size", c_int32),
        ("style_size", c_int32),
        ("iterations", c_int64),
        ("optimizer", c_char_p),
        ("learning_rate", c_double),
        ("init", c_char_p),
        ("content_weight", c_double),
        ("style_weight", c_double),
        ("tv_weight", c_double),
        ("content_layer", c_char_p),
        ("style_layers", c_char_p),
        ("preserve_color", c_int),
        ("seed", c_uint64),
        ("threads", c_int),
        ("log_csv", c_char_p),
        ("progress", OPTIMIZE_PROGRESS_FN),
        ("progress_user", c_void_p),
        ("log", LOG_FN),
        ("log_user", c_void_p),
        ("cancel", CANCEL_FN),  # style_cancel_fn: asked inside every iteration; NULL here
        ("cancel_user", c_void_p),
    ]


class EvaluatePhotoStruct(Structure):
    """``style_evaluate_photo``."""

    _fields_ = [
        ("name", c_char_p),
        ("content", c_double),
        ("style", c_double),
        ("tv", c_double),
        ("total", c_double),
        ("photo_total", c_double),
        ("gatys_total", c_double),
        ("gatys_iterations", c_int64),
        ("gatys_equivalent", c_double),
        ("gatys_beyond", c_int),
        ("color_model", c_double),
        ("color_photo", c_double),
        ("color_gatys", c_double),
        ("peaks_model", c_double),
        ("peaks_gatys", c_double),
        ("artifact_score", c_double),
        ("gatys_cached", c_int),
        ("style_image", c_char_p),
    ]


class EvaluateSummaryStruct(Structure):
    """``style_evaluate_summary``."""

    _fields_ = [
        ("photos", c_size_t),
        ("total_ratio", c_double),
        ("gatys_equivalent", c_double),
        ("gatys_beyond", c_int),
        ("gatys_iterations", c_int64),
        ("color_model", c_double),
        ("color_photo", c_double),
        ("artifact_score", c_double),
    ]


class EvaluateProgressStruct(Structure):
    """``style_evaluate_progress``."""

    _fields_ = [
        ("photo", c_size_t),
        ("photos", c_size_t),
        ("name", c_char_p),
        ("stage", c_char_p),
        ("iteration", c_int64),
        ("iterations", c_int64),
        ("result", POINTER(EvaluatePhotoStruct)),
        ("style", c_size_t),
        ("styles", c_size_t),
        ("style_image", c_char_p),
        ("style_summary", POINTER(EvaluateSummaryStruct)),
    ]


EVALUATE_PROGRESS_FN = CFUNCTYPE(c_int, c_void_p, POINTER(EvaluateProgressStruct))


class EvaluateOptions(Structure):
    """``style_evaluate_options``; set ``struct_size = ctypes.sizeof(EvaluateOptions)``."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("model", c_char_p),
        ("photos_dir", c_char_p),
        ("photo_list", c_char_p),
        ("search_dirs", POINTER(c_char_p)),
        ("search_dir_count", c_size_t),
        ("style_image", c_char_p),
        ("loss_net", c_char_p),
        ("cache_dir", c_char_p),
        ("out_dir", c_char_p),
        ("max_photos", c_size_t),
        ("size", c_int32),
        ("style_size", c_int32),
        ("gatys_iterations", c_int64),
        ("threads", c_int),
        ("progress", EVALUATE_PROGRESS_FN),
        ("progress_user", c_void_p),
        ("log", LOG_FN),
        ("log_user", c_void_p),
        ("style_images", POINTER(c_char_p)),
        ("style_image_count", c_size_t),
        ("styles_dir", c_char_p),
        ("style_list", c_char_p),
    ]


class LossesStruct(Structure):
    """``style_losses``."""

    _fields_ = [
        ("content", c_double),
        ("style", c_double),
        ("tv", c_double),
        ("total", c_double),
    ]


class RunInfoStruct(Structure):
    """``style_run_info``; set ``struct_size = ctypes.sizeof(RunInfoStruct)``."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("width", c_int32),
        ("height", c_int32),
        ("precision", c_int),
        ("flops", c_double),
        ("build_ms", c_double),
        ("buffers_ms", c_double),
        ("memory_bytes", c_uint64),
        ("layer_count", c_size_t),
        ("executed_flops", c_double),
    ]


class LayerProfileStruct(Structure):
    """``style_layer_profile``."""

    _fields_ = [
        ("name", c_char_p),
        ("kind", c_char_p),
        ("impl", c_char_p),
        ("flops", c_double),
        ("milliseconds", c_double),
    ]


_ModelP = POINTER(ModelHandle)
_SessionP = POINTER(SessionHandle)
_ImageP = POINTER(StyleImage)
_AdainStyleP = POINTER(AdainStyleHandle)
_VideoP = POINTER(VideoHandle)

# name -> (restype, argtypes, returns a style_status). Every STYLE_API function of libstyle.h.
FUNCTIONS: Dict[str, Tuple[Any, List[Any], bool]] = {
    # version, status and errors
    "style_version_string": (c_char_p, [], False),
    "style_version_number": (c_uint, [], False),
    "style_status_string": (c_char_p, [c_status], False),
    "style_last_error": (c_char_p, [], False),
    # images
    "style_image_alloc": (c_status, [_ImageP, c_int32, c_int32, c_int32, c_sample_type], True),
    "style_image_release": (None, [_ImageP], False),
    "style_image_load": (c_status, [c_char_p, c_uint64, _ImageP], True),
    "style_image_load_memory": (c_status, [c_void_p, c_size_t, c_uint64, _ImageP], True),
    "style_image_save": (c_status, [c_char_p, _ImageP, c_int], True),
    "style_image_encode": (
        c_status,
        [_ImageP, c_char_p, c_int, POINTER(c_void_p), POINTER(c_size_t)],
        True,
    ),
    "style_image_save_with_options": (c_status, [c_char_p, _ImageP, POINTER(SaveOptions)], True),
    "style_image_encode_with_options": (
        c_status,
        [_ImageP, c_char_p, POINTER(SaveOptions), POINTER(c_void_p), POINTER(c_size_t)],
        True,
    ),
    "style_free": (None, [c_void_p], False),
    # models
    "style_model_load": (c_status, [c_char_p, POINTER(LoadOptions), POINTER(_ModelP)], True),
    "style_model_load_memory": (
        c_status,
        [c_void_p, c_size_t, POINTER(LoadOptions), POINTER(_ModelP)],
        True,
    ),
    "style_model_free": (None, [_ModelP], False),
    "style_model_save": (c_status, [_ModelP, c_char_p], True),
    "style_model_get_info": (c_status, [_ModelP, POINTER(ModelInfoStruct)], True),
    "style_model_metadata_count": (c_size_t, [_ModelP], False),
    "style_model_metadata_at": (
        c_status,
        [_ModelP, c_size_t, POINTER(c_char_p), POINTER(c_char_p)],
        True,
    ),
    "style_model_metadata_get": (c_char_p, [_ModelP, c_char_p], False),
    "style_import_ml5": (c_status, [c_char_p, c_char_p, c_char_p], True),
    "style_model_style_count": (c_size_t, [_ModelP], False),
    "style_model_style_name": (c_char_p, [_ModelP, c_size_t], False),
    "style_model_find_style": (c_int64, [_ModelP, c_char_p], False),
    # sessions
    "style_session_create": (c_status, [_ModelP, POINTER(_SessionP)], True),
    "style_session_free": (None, [_SessionP], False),
    "style_session_set_threads": (c_status, [_SessionP, c_int], True),
    "style_session_set_memory_budget": (c_status, [_SessionP, c_uint64], True),
    "style_session_set_tileable": (c_status, [_SessionP, c_int], True),
    "style_session_set_band_rows": (c_status, [_SessionP, c_int32], True),
    "style_session_set_strength": (c_status, [_SessionP, c_float], True),
    "style_session_set_preserve_color": (c_status, [_SessionP, c_int], True),
    "style_session_set_scale": (c_status, [_SessionP, c_float], True),
    "style_session_set_log_callback": (c_status, [_SessionP, LOG_FN, c_void_p], True),
    "style_session_set_progress_callback": (c_status, [_SessionP, PROGRESS_FN, c_void_p], True),
    "style_session_estimate_memory": (
        c_status,
        [_SessionP, c_int32, c_int32, POINTER(c_uint64)],
        True,
    ),
    "style_session_set_style": (c_status, [_SessionP, c_size_t], True),
    "style_session_set_style_weights": (c_status, [_SessionP, POINTER(c_float), c_size_t], True),
    "style_session_stylize": (c_status, [_SessionP, _ImageP, _ImageP], True),
    "style_session_stylize_batch": (c_status, [_SessionP, _ImageP, _ImageP, c_size_t], True),
    # video sessions
    "style_video_create": (c_status, [_ModelP, POINTER(VideoSettings), POINTER(_VideoP)], True),
    "style_video_session": (_SessionP, [_VideoP], False),
    "style_video_push_frame": (c_status, [_VideoP, _ImageP, _ImageP], True),
    "style_video_reset": (c_status, [_VideoP], True),
    "style_video_frame_count": (c_uint64, [_VideoP], False),
    "style_video_free": (None, [_VideoP], False),
    # precision, builds and profiling
    "style_precision_name": (c_char_p, [c_int], False),
    "style_precision_parse": (c_status, [c_char_p, POINTER(c_int)], True),
    "style_precision_supported": (c_int, [c_int], False),
    "style_session_set_precision": (c_status, [_SessionP, c_int], True),
    "style_session_get_precision": (c_status, [_SessionP, POINTER(c_int)], True),
    "style_session_prepare": (c_status, [_SessionP, c_int32, c_int32], True),
    "style_session_get_run_info": (c_status, [_SessionP, POINTER(RunInfoStruct)], True),
    "style_session_set_profiling": (c_status, [_SessionP, c_int], True),
    "style_session_get_profile": (
        c_status,
        [_SessionP, POINTER(POINTER(LayerProfileStruct)), POINTER(c_size_t), POINTER(c_uint64)],
        True,
    ),
    "style_session_get_profile_executed_flops": (
        c_status,
        [_SessionP, POINTER(POINTER(c_double)), POINTER(c_size_t)],
        True,
    ),
    # training and optimisation
    "style_train": (c_status, [POINTER(TrainOptions)], True),
    # The training benchmark (`libstyle bench --train`): declared, not wrapped in Python.
    "style_train_bench": (c_status, [c_void_p, c_void_p], True),
    "style_optimize": (c_status, [POINTER(OptimizeOptions)], True),
    # arbitrary style (AdaIN)
    "style_train_adain": (c_status, [POINTER(TrainAdainOptions)], True),
    "style_adain_style_create": (
        c_status,
        [_SessionP, _ImageP, c_int32, POINTER(_AdainStyleP)],
        True,
    ),
    "style_adain_style_blend": (
        c_status,
        [POINTER(_AdainStyleP), POINTER(c_float), c_size_t, POINTER(_AdainStyleP)],
        True,
    ),
    "style_adain_style_get": (
        c_status,
        [_AdainStyleP, POINTER(c_int32), POINTER(POINTER(c_float)), POINTER(POINTER(c_float))],
        True,
    ),
    "style_adain_style_free": (None, [_AdainStyleP], False),
    "style_session_set_adain_style": (c_status, [_SessionP, _AdainStyleP], True),
    "style_evaluate": (
        c_status,
        [POINTER(EvaluateOptions), POINTER(EvaluateSummaryStruct)],
        True,
    ),
    "style_evaluate_losses": (
        c_status,
        [POINTER(OptimizeOptions), c_char_p, POINTER(LossesStruct)],
        True,
    ),
}


# ---- Loading ----------------------------------------------------------------------------------


def _package_dir() -> str:
    return os.path.dirname(os.path.abspath(__file__))


def _files_in(directory: str) -> List[str]:
    """libstyle.so, then its versioned names, in a stable order."""
    names = sorted(glob.glob(os.path.join(glob.escape(directory), "libstyle.so*")), key=len)
    return [name for name in names if os.path.isfile(name)]


def _candidates(environ: Mapping[str, str]) -> Tuple[List[Tuple[Optional[str], str]], bool]:
    """The places to try as (what to dlopen or None when nothing is there, description),
    and whether $LIBSTYLE_LIBRARY decided them."""
    configured = environ.get(ENV_VARIABLE, "")
    origin = "$" + ENV_VARIABLE
    if configured:
        if os.path.isdir(configured):
            found = _files_in(configured)
            if not found:
                return [(None, "%s [%s]" % (os.path.join(configured, "libstyle.so*"), origin))], True
            return [(path, "%s [%s]" % (path, origin)) for path in found], True
        return [(configured, "%s [%s]" % (configured, origin))], True
    places: List[Tuple[Optional[str], str]] = []
    here = os.path.join(_package_dir(), "libstyle.so*")
    bundled = _files_in(_package_dir())
    if bundled:
        places += [(path, "%s [next to the package]" % path) for path in bundled]
    else:
        places.append((None, "%s [next to the package]" % here))
    system = ctypes.util.find_library("style")
    found_as = " = " + system if system else ""
    places.append((system, "ctypes.util.find_library('style')%s [the system]" % found_as))
    for name in ("libstyle.so.0", "libstyle.so"):
        places.append((name, "%s [the system: the dynamic loader's search path]" % name))
    for directory in _install_dirs():
        path = os.path.join(directory, "libstyle.so.%d" % SUPPORTED_MAJOR)
        if os.path.isfile(path):
            places.append((path, "%s [cmake --install's default prefix]" % path))
    return places, False


def _install_dirs() -> List[str]:
    """Where ``cmake --install`` puts the library under its default prefix, /usr/local."""
    import sysconfig

    multiarch = sysconfig.get_config_var("MULTIARCH")
    dirs = ["/usr/local/lib"]
    if multiarch:
        dirs.append("/usr/local/lib/" + multiarch)
    return dirs


def _declare(library: ctypes.CDLL) -> None:
    """Sets restype/argtypes (and errcheck for status-returning functions) on every function."""
    last_error = library.style_last_error
    last_error.restype = c_char_p
    last_error.argtypes = []
    status_string = library.style_status_string
    status_string.restype = c_char_p
    status_string.argtypes = [c_status]

    def check_status(result: int, function: Any, arguments: Sequence[Any]) -> int:
        if result == 0:
            return result
        # Read at once, in this thread: the message is thread-local and the next libstyle
        # call may replace it.
        raw = last_error() or b""
        message = raw.decode("utf-8", "replace")
        if not message:
            message = (status_string(result) or b"").decode("utf-8", "replace")
            message = message or "libstyle status %d" % result
        raise error_for_status(result, message, getattr(function, "__name__", ""))

    for name, (restype, argtypes, returns_status) in FUNCTIONS.items():
        function = getattr(library, name)  # AttributeError when the symbol is missing
        function.restype = restype
        function.argtypes = argtypes
        if returns_status:
            function.errcheck = check_status


def _try_load(target: str) -> Tuple[Optional[ctypes.CDLL], str]:
    """dlopen()s `target` and checks that it is a compatible libstyle; (library, why not)."""
    try:
        library = ctypes.CDLL(target)
    except OSError as error:
        return None, str(error) or "cannot be loaded"
    try:
        _declare(library)
    except AttributeError as error:
        return None, "not libstyle (%s)" % error
    number = library.style_version_number()
    if number // 10000 != SUPPORTED_MAJOR:
        version = (library.style_version_string() or b"?").decode("ascii", "replace")
        return None, "libstyle %s, but these bindings need %d.x" % (version, SUPPORTED_MAJOR)
    return library, ""


def _loaded_path(library: ctypes.CDLL, fallback: str) -> str:
    """The file the dynamic loader actually opened (via dladdr), else `fallback`."""
    if sys.platform.startswith("linux"):
        try:

            class _DlInfo(Structure):
                _fields_ = [
                    ("dli_fname", c_char_p),
                    ("dli_fbase", c_void_p),
                    ("dli_sname", c_char_p),
                    ("dli_saddr", c_void_p),
                ]

            libc = ctypes.CDLL(None)
            dladdr = libc.dladdr
            dladdr.restype = c_int
            dladdr.argtypes = [c_void_p, POINTER(_DlInfo)]
            info = _DlInfo()
            address = ctypes.cast(library.style_version_number, c_void_p)
            if dladdr(address, ctypes.byref(info)) and info.dli_fname:
                return os.path.abspath(os.fsdecode(info.dli_fname))
        except (AttributeError, OSError):
            pass
    return fallback


def load_library(environ: Optional[Mapping[str, str]] = None) -> Tuple[ctypes.CDLL, str]:
    """Finds, loads and declares libstyle; returns (library, path of the file loaded).

    `environ` defaults to os.environ (only LIBSTYLE_LIBRARY is read). Raises
    LibraryNotFoundError listing every place tried and why each failed.
    """
    places, from_env = _candidates(os.environ if environ is None else environ)
    tried: List[Tuple[str, str]] = []
    for target, place in places:
        if target is None:
            tried.append((place, "not found"))
            continue
        library, reason = _try_load(target)
        if library is not None:
            return library, _loaded_path(library, target)
        tried.append((place, reason))
    lines = ["cannot load the libstyle shared library; tried:"]
    lines += ["  %s: %s" % (place, reason) for place, reason in tried]
    if from_env:
        lines.append("%s is set, so no other place was tried." % ENV_VARIABLE)
    else:
        lines.append(
            "Build the library before 'pip install ./bindings/python' (the package then "
            "bundles build/libstyle.so.0), install it system-wide (cmake --install), or set "
            "%s to the path of libstyle.so." % ENV_VARIABLE
        )
    raise LibraryNotFoundError("\n".join(lines), tried)


lib, library_path = load_library()
