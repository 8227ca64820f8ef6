"""Reading and writing safetensors files with numpy (docs/formats.md), for the converters.

The C library is the authority on what a valid model is; this module only moves float32
tensors and string metadata in and out of the container, so that the converters need
neither the ``safetensors`` package nor PyTorch to write a model file.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from typing import Dict, Mapping, Tuple

import numpy as np

_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8"}


def read(path: "os.PathLike[str] | str") -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """The tensors (as float32 arrays) and the ``__metadata__`` map of a safetensors file."""
    with open(path, "rb") as file:
        data = file.read()
    if len(data) < 8:
        raise ValueError("%s: too short for a safetensors file" % os.fspath(path))
    (header_size,) = struct.unpack("<Q", data[:8])
    if header_size > len(data) - 8:
        raise ValueError("%s: header length past the end of the file" % os.fspath(path))
    header = json.loads(data[8 : 8 + header_size].decode("utf-8"))
    metadata = dict(header.pop("__metadata__", {}) or {})
    body = memoryview(data)[8 + header_size :]
    tensors: Dict[str, np.ndarray] = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        raw = body[begin:end]
        if entry["dtype"] == "BF16":
            array = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif entry["dtype"] in _DTYPES:
            array = np.frombuffer(raw, dtype=_DTYPES[entry["dtype"]]).astype(np.float32)
        else:
            raise ValueError("%s: tensor '%s' has dtype %s" % (os.fspath(path), name,
                                                              entry["dtype"]))
        tensors[name] = array.reshape(entry["shape"]).copy()
    return tensors, metadata


def to_bytes(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> bytes:
    """A safetensors file image: float32 tensors in the given order, string metadata."""
    header: Dict[str, object] = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}}
    chunks = []
    offset = 0
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": [int(d) for d in np.shape(array)],
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # keeps the data 8-byte aligned
    return struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks)


def write_atomic(path: "os.PathLike[str] | str", data: bytes) -> None:
    """Writes to a temporary file beside `path`, then renames it into place. The file gets
    the usual permissions (0666 less the umask), as every other file libstyle writes."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    # A short prefix: a name near the file system's 255-byte limit leaves no room for more.
    prefix = ".%s." % os.fsencode(os.path.basename(path))[:100].decode("utf-8", "ignore")
    handle, temporary = tempfile.mkstemp(prefix=prefix, dir=directory)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            # mkstemp makes 0600 files; os.umask can only be read by setting it.
            mask = os.umask(0)
            os.umask(mask)
            os.fchmod(file.fileno(), 0o666 & ~mask)
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
