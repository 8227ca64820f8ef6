"""Helpers for the binding tests: a small random style model written as safetensors bytes."""

from __future__ import annotations

import json
import os
import struct
from typing import Dict, Iterable, Optional, Tuple

import numpy as np

# Half-sized widths keep the tests fast: conv1/conv2/conv3 = 8/16/32 channels, 1 residual block.
WIDTHS = (8, 16, 32)


def model_tensors(
    seed: int = 0, widths: Tuple[int, int, int] = WIDTHS, blocks: int = 1, bias: bool = True
) -> Dict[str, np.ndarray]:
    """The tensors of a Johnson transform network (docs/formats.md section 1), random weights.

    Scaled so that the output spans 0..255 instead of sitting at the clamp.
    """
    rng = np.random.default_rng(seed)
    a, b, c = widths
    tensors: Dict[str, np.ndarray] = {}

    def conv(name: str, out_channels: int, in_channels: int, k: int, gain: float = 1.0,
             bias_mean: float = 0.0) -> None:
        fan_in = in_channels * k * k
        tensors[name + ".conv2d.weight"] = (
            rng.standard_normal((out_channels, in_channels, k, k)) * gain / np.sqrt(fan_in)
        ).astype(np.float32)
        if bias:
            tensors[name + ".conv2d.bias"] = (
                bias_mean + 0.1 * rng.standard_normal(out_channels)
            ).astype(np.float32)

    def norm(name: str, channels: int) -> None:
        tensors[name + ".weight"] = (1.0 + 0.2 * rng.standard_normal(channels)).astype(np.float32)
        tensors[name + ".bias"] = (0.2 * rng.standard_normal(channels)).astype(np.float32)

    conv("conv1", a, 3, 9, gain=1.0 / 64)
    norm("in1", a)
    conv("conv2", b, a, 3)
    norm("in2", b)
    conv("conv3", c, b, 3)
    norm("in3", c)
    for i in range(1, blocks + 1):
        conv("res%d.conv1" % i, c, c, 3)
        norm("res%d.in1" % i, c)
        conv("res%d.conv2" % i, c, c, 3)
        norm("res%d.in2" % i, c)
    conv("deconv1", b, c, 3)
    norm("in4", b)
    conv("deconv2", a, b, 3)
    norm("in5", a)
    conv("deconv3", 3, a, 9, gain=60.0, bias_mean=127.5)
    return tensors


def safetensors_bytes(
    tensors: Dict[str, np.ndarray], metadata: Optional[Dict[str, str]] = None
) -> bytes:
    """Serializes float32 tensors to the safetensors format.

    8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}
    plus "__metadata__", padded with spaces to a multiple of 8, then the raw data.
    """
    header: Dict[str, object] = {}
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    chunks = []
    offset = 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    return struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks)


def model_bytes(seed: int = 0, metadata: Optional[Dict[str, str]] = None, **kwargs) -> bytes:
    """A complete small model file image."""
    if metadata is None:
        metadata = {"libstyle.name": "test-%d" % seed, "author": "tests", "zeta": "last"}
    return safetensors_bytes(model_tensors(seed, **kwargs), metadata)


def write_model(path: str, seed: int = 0, **kwargs) -> str:
    with open(path, "wb") as file:
        file.write(model_bytes(seed, **kwargs))
    return path


def test_image(height: int = 29, width: int = 37, channels: int = 3, seed: int = 1) -> np.ndarray:
    """A smooth uint8 picture with some noise (odd size: the library pads to multiples of 4)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack(
        [128 + 100 * np.sin(x / 5.0), 128 + 100 * np.cos(y / 7.0), (x * 3 + y * 5) % 256], axis=-1
    )
    if channels == 4:
        base = np.concatenate([base, ((x * 7 + y) % 256)[..., None]], axis=-1)
    noisy = base + rng.normal(0, 8, base.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


test_image.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def cli_path(library_path: str) -> Optional[str]:
    """The libstyle command-line tool: $LIBSTYLE_CLI, else next to the shared library."""
    configured = os.environ.get("LIBSTYLE_CLI")
    if configured:
        return configured
    candidate = os.path.join(os.path.dirname(os.path.abspath(library_path)), "libstyle")
    if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
        return candidate
    return None


def repo_root() -> str:
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def shared_dir() -> str:
    """../shared next to the repository (real models and photos); may be absent."""
    return os.environ.get("LIBSTYLE_SHARED_DIR") or os.path.join(repo_root(), "..", "shared")


def iter_header_functions(header_text: str) -> Iterable[str]:
    """Names of the STYLE_API functions declared in a header (libstyle.h, libstyle_train.h)."""
    import re

    for match in re.finditer(r"STYLE_API\s+[^;(]*?\b(style_\w+)\s*\(", header_text):
        yield match.group(1)
