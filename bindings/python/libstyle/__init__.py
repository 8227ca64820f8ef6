"""libstyle: fast feed-forward neural style transfer on the CPU (Python bindings).

A thin ctypes layer over the C library (include/libstyle.h): numpy arrays in, numpy arrays
out, without copies where the memory layout allows::

    import libstyle
    with libstyle.Model("candy.safetensors") as model, libstyle.Session(model) as session:
        libstyle.save_image("out.png", session.stylize(libstyle.load_image("in.jpg")))

The shared library is found through ``$LIBSTYLE_LIBRARY`` (its path), then next to this
package (``libstyle/libstyle.so*``), then the system; :class:`LibraryNotFoundError` (an
ImportError) lists every place tried. A failed call raises a :class:`StyleError` subclass
chosen by the C status, carrying ``.status`` and the library's detail message.

:func:`train` trains a new style model (``style_train``; see docs/training.md);
:func:`optimize` styles one photo by optimising its pixels (``style_optimize``; see
docs/gatys.md).
"""

from __future__ import annotations

from ._errors import (
    BackendError,
    CancelledError,
    FormatError,
    InternalError,
    InvalidArgumentError,
    LibraryNotFoundError,
    LimitError,
    OutOfMemoryError,
    Status,
    StyleError,
    StyleIOError,
    UnsupportedError,
)
from ._lib import lib as _c, library_path
from ._callbacks import LogLevel
from ._images import decode_image, encode_image, load_image, save_image
from ._model import Model, ModelInfo, import_ml5
from ._optimize import OptimizeStats, evaluate_losses, optimize
from ._evaluate import EVALUATION_DEFINITION, evaluate
from ._session import PRECISIONS, RunInfo, Session, precision_supported
from ._train import TrainStats, train
from ._adain import AdainStyle, train_adain
from ._video import DEFAULT_NORM_SMOOTHING, DEFAULT_TEMPORAL_BLEND, VideoSession

__all__ = [
    "__version__",
    "version",
    "version_number",
    "library_path",
    "Model",
    "ModelInfo",
    "Session",
    "RunInfo",
    "PRECISIONS",
    "precision_supported",
    "optimize",
    "evaluate_losses",
    "evaluate",
    "EVALUATION_DEFINITION",
    "OptimizeStats",
    "train",
    "TrainStats",
    "AdainStyle",
    "train_adain",
    "VideoSession",
    "DEFAULT_NORM_SMOOTHING",
    "DEFAULT_TEMPORAL_BLEND",
    "LogLevel",
    "Status",
    "load_image",
    "decode_image",
    "save_image",
    "encode_image",
    "import_ml5",
    "status_string",
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
]

#: Version of these bindings (the C library's is :func:`version`).
__version__ = "0.1.0"


def version() -> str:
    """Version of the C library actually loaded, as "MAJOR.MINOR.PATCH"."""
    return _c.style_version_string().decode("ascii")


def version_number() -> int:
    """Version of the C library loaded, as MAJOR * 10000 + MINOR * 100 + PATCH."""
    return int(_c.style_version_number())


def status_string(status: int) -> str:
    """The library's short English name for a status ("out of memory", ...)."""
    return _c.style_status_string(int(status)).decode("utf-8", "replace")
