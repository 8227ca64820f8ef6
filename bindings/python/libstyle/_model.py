"""``Model``: an immutable set of style weights loaded from a model file (safetensors)."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import threading
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from ._callbacks import CallbackErrors, LogCallback, log_trampoline
from ._images import PathLike, encode_path
from ._lib import LoadOptions, ModelHandle, ModelInfoStruct, lib

__all__ = ["Model", "ModelInfo", "import_ml5"]

BytesLike = Union[bytes, bytearray, memoryview]


def _text(raw: Optional[bytes]) -> str:
    return (raw or b"").decode("utf-8", "replace")


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What a model is (``style_model_info``). Also readable as ``info["arch"]``."""

    arch: str  #: "johnson"
    padding: str  #: "reflect", "zero" or "tf_same"
    upsample: str  #: "nearest_conv", "transposed_tf" or "transposed_torch"
    norm: str  #: "instance" or "batch"
    output: str  #: "linear" or "tanh150"
    final_norm: str  #: "none" or "instance"
    norm_eps: float  #: normalization epsilon
    format_version: int  #: libstyle.format_version
    widths: Tuple[int, int, int]  #: channel widths of conv1, conv2, conv3
    residual_blocks: int  #: number of residual blocks
    has_bias: bool  #: whether the convolutions carry biases
    parameter_count: int  #: number of scalar parameters used by the network

    def as_dict(self) -> Dict[str, Any]:
        """The fields as a plain dict."""
        return dataclasses.asdict(self)

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:  # type: ignore[attr-defined]
            raise KeyError(key)
        return getattr(self, key)

    @classmethod
    def _from_struct(cls, info: ModelInfoStruct) -> "ModelInfo":
        return cls(
            arch=_text(info.arch),
            padding=_text(info.padding),
            upsample=_text(info.upsample),
            norm=_text(info.norm),
            output=_text(info.output),
            final_norm=_text(info.final_norm),
            norm_eps=float(info.norm_eps),
            format_version=int(info.format_version),
            widths=(int(info.widths[0]), int(info.widths[1]), int(info.widths[2])),
            residual_blocks=int(info.residual_blocks),
            has_bias=bool(info.has_bias),
            parameter_count=int(info.parameter_count),
        )


def _load_options(max_bytes: int, log_function: Any) -> LoadOptions:
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
        raise TypeError("max_bytes must be an int, not %s" % type(max_bytes).__name__)
    if not 0 <= max_bytes < 2**64:
        raise ValueError("max_bytes must be >= 0 (0 = the default, 2 GiB), not %d" % max_bytes)
    options = LoadOptions()
    options.struct_size = ctypes.sizeof(LoadOptions)
    if log_function is not None:
        options.log = log_function
    options.max_bytes = max_bytes
    return options


class Model:
    """Style weights loaded from a safetensors model file, or from its bytes.

    ``Model(path)`` reads a file; ``Model(data)`` (or :meth:`from_bytes`) a file image held
    in memory (``bytes``, ``bytearray``, ``memoryview``). The file is validated completely:
    a malformed one raises :class:`FormatError` or :class:`UnsupportedError` with a message
    naming the problem, a missing one :class:`StyleIOError`, one over `max_bytes`
    (0 = 2 GiB) :class:`LimitError`. `log(level, message)` receives load warnings.

    A model is immutable and may be shared by any number of threads, each with its own
    :class:`Session`. Closing it while sessions live is safe: each session holds its own
    reference to the weights. Use it as a context manager or call :meth:`close`.
    """

    def __init__(
        self,
        source: Union[PathLike, BytesLike],
        *,
        max_bytes: int = 0,
        log: Optional[LogCallback] = None,
    ) -> None:
        self._handle: Optional[ctypes._Pointer] = None  # set first: __del__ may run on failure
        self._lock = threading.Lock()
        self._info: Optional[ModelInfo] = None
        self._metadata: Optional[Dict[str, str]] = None
        errors = CallbackErrors()
        log_function = log_trampoline(log, errors) if log is not None else None
        options = _load_options(max_bytes, log_function)
        handle = ctypes.POINTER(ModelHandle)()
        if isinstance(source, (str, os.PathLike)):
            path = encode_path(source, "model path")
            self.name: str = os.fsdecode(os.fspath(source))
            lib.style_model_load(path, ctypes.byref(options), ctypes.byref(handle))
        elif isinstance(source, (bytes, bytearray, memoryview)):
            self.name = "<memory>"
            buffer, size = _buffer_of(source)
            lib.style_model_load_memory(buffer, size, ctypes.byref(options), ctypes.byref(handle))
        else:
            raise TypeError(
                "a model is loaded from a path (str, os.PathLike) or from bytes, not %s"
                % type(source).__name__
            )
        self._handle = handle
        error = errors.take()
        if error is not None:
            self.close()
            raise error

    @classmethod
    def from_bytes(
        cls, data: BytesLike, *, max_bytes: int = 0, log: Optional[LogCallback] = None
    ) -> "Model":
        """Loads a model from a file image held in memory (the bytes are copied)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("data must be bytes-like, not %s" % type(data).__name__)
        return cls(data, max_bytes=max_bytes, log=log)

    # ---- lifetime ---------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._handle is None

    def close(self) -> None:
        """Drops this object's reference to the weights. A second call does nothing.

        Sessions made from the model keep working: they hold references of their own.
        """
        with self._lock:
            handle, self._handle = self._handle, None
            if handle:
                lib.style_model_free(handle)

    def __enter__(self) -> "Model":
        self._check_open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            handle, self._handle = self._handle, None
            if handle:
                lib.style_model_free(handle)
        except Exception:  # interpreter shutdown: the module may be half torn down
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return "<libstyle.Model %r (%s)>" % (getattr(self, "name", "?"), state)

    def _check_open(self) -> None:
        if self._handle is None:
            raise ValueError("the model is closed")

    @contextlib.contextmanager
    def _acquire(self) -> Iterator[Any]:
        """The C handle, kept alive (not closed by another thread) for the block."""
        with self._lock:
            if self._handle is None:
                raise ValueError("the model is closed")
            yield self._handle

    # ---- queries ----------------------------------------------------------------------------

    @property
    def info(self) -> ModelInfo:
        """Architecture, options and sizes of the network (:class:`ModelInfo`)."""
        with self._acquire() as handle:
            if self._info is None:
                info = ModelInfoStruct()
                lib.style_model_get_info(handle, ctypes.byref(info))
                self._info = ModelInfo._from_struct(info)
            return self._info

    @property
    def metadata(self) -> Dict[str, str]:
        """Every ``__metadata__`` entry of the file (``libstyle.*`` included), in file order."""
        with self._acquire() as handle:
            if self._metadata is None:
                entries: Dict[str, str] = {}
                key = ctypes.c_char_p()
                value = ctypes.c_char_p()
                for index in range(lib.style_model_metadata_count(handle)):
                    lib.style_model_metadata_at(handle, index, ctypes.byref(key), ctypes.byref(value))
                    entries[_text(key.value)] = _text(value.value)
                self._metadata = entries
            return dict(self._metadata)

    def get_metadata(self, key: str, default: Optional[str] = None) -> Optional[str]:
        """The value of metadata `key`, or `default` when the model has no such key."""
        encoded = key.encode("utf-8")
        if b"\0" in encoded:
            raise ValueError("key contains a NUL character")
        with self._acquire() as handle:
            value = lib.style_model_metadata_get(handle, encoded)
        return default if value is None else _text(value)

    @property
    def styles(self) -> List[str]:
        """The style names of a model with several styles (arch ``johnson-cin``), in row order;
        ``[]`` for a single-style model. Choose one with :meth:`Session.set_style` or blend
        them with :meth:`Session.set_style_weights`."""
        with self._acquire() as handle:
            return [
                _text(lib.style_model_style_name(handle, index))
                for index in range(lib.style_model_style_count(handle))
            ]

    def save(self, path: PathLike) -> None:
        """Writes the model to a safetensors file with every libstyle.* key explicit.

        The file is written atomically; loading it again gives an identical network.
        """
        encoded = encode_path(path)
        with self._acquire() as handle:
            lib.style_model_save(handle, encoded)


def _buffer_of(data: BytesLike) -> Tuple[Any, int]:
    """A pointer-compatible object for `data`'s bytes and their count (no copy if possible)."""
    if isinstance(data, bytes):
        return data, len(data)
    view = memoryview(data)
    if not view.c_contiguous:
        raise ValueError("model bytes must be contiguous")
    view = view.cast("B")
    if view.readonly:
        copy = bytes(view)
        return copy, len(copy)
    size = view.nbytes
    return (ctypes.c_char * size).from_buffer(view), size


def import_ml5(directory: PathLike, out: PathLike, name: Optional[str] = None) -> None:
    """Converts an ml5 / deeplearn.js checkpoint dump into a model file.

    `directory` holds manifest.json and the raw float32 files; `name` (optional) is stored
    as ``libstyle.name``. The output is written atomically.
    """
    encoded_name = None
    if name is not None:
        encoded_name = name.encode("utf-8")
        if b"\0" in encoded_name:
            raise ValueError("name contains a NUL character")
    lib.style_import_ml5(
        encode_path(directory, "directory"), encode_path(out, "output path"), encoded_name
    )
