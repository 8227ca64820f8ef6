"""numpy arrays <-> ``style_image`` structs, and image file I/O.

An image is an ``H x W x 3`` (RGB) or ``H x W x 4`` (RGBA, straight alpha) array of
``uint8`` (0..255), ``uint16`` (0..65535) or ``float32`` (0..255) samples. Arrays are handed
to the library without a copy when their pixels are contiguous (each row a packed run of
samples; rows may be further apart, as in a crop ``a[y0:y1, x0:x1]``). Other input layouts
are copied; an output array with another layout is refused.
"""

from __future__ import annotations

import ctypes
import os
from typing import Optional, Tuple, Union

import numpy as np

from ._lib import PNG_LEVEL_STORED, SAMPLE_F32, SAMPLE_U8, SAMPLE_U16, SaveOptions, StyleImage, lib

__all__ = ["load_image", "decode_image", "save_image", "encode_image", "PathLike"]

PathLike = Union[str, "os.PathLike[str]"]

_INT32_MAX = 2**31 - 1

_SAMPLE_TYPES = {
    np.dtype(np.uint8): SAMPLE_U8,
    np.dtype(np.uint16): SAMPLE_U16,
    np.dtype(np.float32): SAMPLE_F32,
}
_DTYPES = {sample: dtype for dtype, sample in _SAMPLE_TYPES.items()}
_ACCEPTED = "uint8, uint16 or float32"


def encode_path(path: PathLike, what: str = "path") -> bytes:
    """A file system path as the bytes the C library wants; ValueError on an embedded NUL."""
    if isinstance(path, (bytes, bytearray)):
        raise TypeError("%s must be a str or os.PathLike, not bytes" % what)
    encoded = os.fsencode(os.fspath(path))
    if b"\0" in encoded:
        raise ValueError("%s contains a NUL character" % what)
    return encoded


def _native(dtype: np.dtype) -> np.dtype:
    return dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype


def _check_shape(array: np.ndarray, what: str) -> None:
    if array.ndim != 3:
        raise ValueError(
            "%s must be an H x W x 3 or H x W x 4 array, not %d-dimensional with shape %s"
            % (what, array.ndim, array.shape)
        )
    height, width, channels = array.shape
    if channels not in (3, 4):
        raise ValueError(
            "%s must have 3 (RGB) or 4 (RGBA) channels, not %d (shape %s)"
            % (what, channels, array.shape)
        )
    if height < 1 or width < 1:
        raise ValueError("%s is empty (shape %s)" % (what, array.shape))
    if height > _INT32_MAX or width > _INT32_MAX:
        raise ValueError("%s is too large (shape %s)" % (what, array.shape))


def row_stride(array: np.ndarray) -> Optional[int]:
    """The byte stride between rows when `array`'s pixels are contiguous, else None.

    0 stands for packed rows. Each row must be one run of width x channels samples; rows
    must be at least a row apart, in increasing addresses, and the samples aligned.
    """
    height, width, channels = array.shape
    itemsize = array.itemsize
    rows, columns, samples = array.strides
    if samples != itemsize:
        return None
    if width > 1 and columns != channels * itemsize:
        return None
    if array.ctypes.data % itemsize != 0:
        return None
    packed = width * channels * itemsize
    if height == 1:
        return 0
    if rows < packed or rows % itemsize != 0:
        return None
    return 0 if rows == packed else rows


def as_input(image: object, what: str = "image") -> np.ndarray:
    """`image` as an array the library can read: shape, dtype and layout checked.

    Pixels that are not contiguous are copied; the dtype is never converted (a float64
    image is a ValueError), except that a non-native byte order is swapped.
    """
    array = image if isinstance(image, np.ndarray) else np.asarray(image)
    dtype = _native(array.dtype)
    if dtype not in _SAMPLE_TYPES:
        raise ValueError("%s must have dtype %s, not %s" % (what, _ACCEPTED, array.dtype))
    _check_shape(array, what)
    if dtype != array.dtype:
        array = array.astype(dtype)
    if row_stride(array) is None:
        array = np.ascontiguousarray(array)
    return array


def check_output(out: object, height: int, width: int, what: str = "out") -> np.ndarray:
    """Checks a caller-given output array: writable, right size, contiguous pixels."""
    if not isinstance(out, np.ndarray):
        raise TypeError("%s must be a numpy.ndarray, not %s" % (what, type(out).__name__))
    if out.dtype not in _SAMPLE_TYPES:
        raise ValueError(
            "%s must have dtype %s in native byte order, not %s" % (what, _ACCEPTED, out.dtype)
        )
    _check_shape(out, what)
    if out.shape[:2] != (height, width):
        raise ValueError(
            "%s has shape %s, but the image is %d x %d (height x width)"
            % (what, out.shape, height, width)
        )
    if not out.flags.writeable:
        raise ValueError("%s is read-only" % what)
    if row_stride(out) is None:
        raise ValueError(
            "%s must have contiguous pixels (rows of packed samples, positive row stride); "
            "its strides are %s" % (what, out.strides)
        )
    return out


def describe(array: np.ndarray) -> StyleImage:
    """A style_image pointing at `array`'s memory (which must outlive its use)."""
    stride = row_stride(array)
    assert stride is not None
    height, width, channels = array.shape
    return StyleImage(
        width=width,
        height=height,
        channels=channels,
        sample_type=_SAMPLE_TYPES[array.dtype],
        stride=stride,
        data=array.ctypes.data,
    )


def take_library_image(image: StyleImage) -> np.ndarray:
    """Copies pixels the library allocated into a new array, then releases them."""
    try:
        dtype = _DTYPES[image.sample_type]
        height, width, channels = image.height, image.width, image.channels
        result = np.empty((height, width, channels), dtype=dtype)
        packed = width * channels * dtype.itemsize
        stride = image.stride or packed
        if stride == packed:
            ctypes.memmove(result.ctypes.data, image.data, packed * height)
        else:
            for y in range(height):
                ctypes.memmove(result.ctypes.data + y * packed, image.data + y * stride, packed)
        return result
    finally:
        lib.style_image_release(ctypes.byref(image))


def load_image(path: PathLike, max_pixels: int = 0) -> np.ndarray:
    """Decodes a PNG, JPEG or WebP file (detected from its content) into a new array.

    The result is H x W x 3, or x 4 when the file has alpha; uint8, or uint16 for 16-bit
    PNGs; grey and palette PNGs are expanded (tRNS becomes alpha), CMYK and YCCK JPEGs are
    converted to RGB (as Pillow converts them), JPEGs are turned upright
    by their EXIF orientation, and a PNG's gAMA is honoured unless sRGB or iCCP is present
    (docs/pipeline.md, "Formats"). Images with more than `max_pixels` pixels (0 = the library's default, 64 Mpx) are
    refused with LimitError before any pixel memory is allocated. Errors: StyleIOError
    (missing, unreadable), FormatError (truncated, corrupt, not an image: the message says
    what the file is, e.g. a model), UnsupportedError (GIF, TIFF, animated WebP...), LimitError.
    """
    encoded = encode_path(path)
    if max_pixels < 0:
        raise ValueError("max_pixels must be >= 0, not %r" % (max_pixels,))
    image = StyleImage()
    lib.style_image_load(encoded, int(max_pixels), ctypes.byref(image))
    return take_library_image(image)


def decode_image(data: Union[bytes, bytearray, memoryview], max_pixels: int = 0) -> np.ndarray:
    """Like :func:`load_image` on an encoded PNG, JPEG or WebP file held in memory."""
    if max_pixels < 0:
        raise ValueError("max_pixels must be >= 0, not %r" % (max_pixels,))
    buffer = bytes(data)
    image = StyleImage()
    lib.style_image_load_memory(buffer, len(buffer), int(max_pixels), ctypes.byref(image))
    return take_library_image(image)


def save_options(quality: int, png_level: Optional[int]) -> SaveOptions:
    """The ``style_save_options`` for `quality` and `png_level` (None: the library's default;
    0..9: zlib's level, 0 = stored), after checking both."""
    if not 0 <= quality <= 100:
        raise ValueError("quality must be 0..100, not %r" % (quality,))
    if png_level is not None and (isinstance(png_level, bool) or not isinstance(png_level, int)
                                  or not 0 <= png_level <= 9):
        raise ValueError("png_level must be None or 0..9, not %r" % (png_level,))
    options = SaveOptions()
    options.struct_size = ctypes.sizeof(SaveOptions)
    options.quality = int(quality)
    if png_level is not None:
        options.png_level = PNG_LEVEL_STORED if png_level == 0 else int(png_level)
    return options


def save_image(path: PathLike, image: object, quality: int = 0,
               png_level: Optional[int] = None) -> None:
    """Encodes `image` to a file, PNG, JPEG or WebP by the name's extension (.png, .jpg,
    .jpeg, .webp).

    PNG keeps 16-bit samples and alpha; JPEG stores 8-bit RGB (alpha dropped) at `quality`
    1..100 (0 = the library's default, 92); WebP stores 8-bit samples with alpha, lossless
    when `quality` is 0 (the default) and lossy at `quality` 1..100 otherwise. float32 samples are rounded and clamped to 0..255.
    `png_level` is the PNG's zlib level, 0 (stored) .. 9 (smallest); None: 6, or 1 for
    images over 2048x2048 pixels (fast to write). Every level gives the same pixels.
    The file is written atomically (temporary name, then rename).
    """
    encoded = encode_path(path)
    options = save_options(quality, png_level)
    array = as_input(image)
    described = describe(array)
    lib.style_image_save_with_options(encoded, ctypes.byref(described), ctypes.byref(options))


def encode_image(image: object, format: str = "png", quality: int = 0,
                 png_level: Optional[int] = None) -> bytes:
    """Encodes `image` in memory as :func:`save_image` would write it; `format` is "png",
    "jpeg" or "webp". Returns the file's bytes."""
    if not isinstance(format, str):
        raise TypeError("format must be a str, not %s" % type(format).__name__)
    options = save_options(quality, png_level)
    described = describe(as_input(image))
    data = ctypes.c_void_p()
    size = ctypes.c_size_t()
    lib.style_image_encode_with_options(ctypes.byref(described),
                                        format.encode("ascii", "replace"),
                                        ctypes.byref(options), ctypes.byref(data),
                                        ctypes.byref(size))
    try:
        return ctypes.string_at(data.value, size.value)
    finally:
        lib.style_free(data)


def image_dtype(sample_type: int) -> np.dtype:
    """The numpy dtype of a style_sample_type."""
    return _DTYPES[sample_type]


def shape_of(array: np.ndarray) -> Tuple[int, int]:
    """(height, width)"""
    return int(array.shape[0]), int(array.shape[1])

