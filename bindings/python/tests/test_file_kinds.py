"""Files people actually have (issue 21): CMYK and YCCK JPEGs decoded as Pillow decodes them,
WebP in and out, and wrong files (real PyTorch and ONNX files, images, models) named by what
they are through Model, load_image and the messages of their exceptions."""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import os
import shutil
import tempfile
import unittest

import numpy as np

import libstyle

from . import _support

try:
    from PIL import Image
except ImportError:  # python3-pil is optional for the binding tests
    Image = None


def _turbojpeg_cmyk(cmyk: np.ndarray, quality: int = 95) -> bytes:
    """A YCCK JPEG of `cmyk` (H x W x 4 uint8), written by TurboJPEG as it writes CMYK pixels:
    converted to YCCK, with an Adobe APP14 marker (transform 2)."""
    name = ctypes.util.find_library("turbojpeg") or "libturbojpeg.so.0"
    tj = ctypes.CDLL(name)
    tj.tjInitCompress.restype = ctypes.c_void_p
    tj.tjCompress2.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                               ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                               ctypes.POINTER(ctypes.c_ulong), ctypes.c_int, ctypes.c_int,
                               ctypes.c_int]
    tj.tjDestroy.argtypes = [ctypes.c_void_p]
    tj.tjFree.argtypes = [ctypes.c_void_p]
    tjpf_cmyk, tjsamp_420 = 11, 2
    pixels = np.ascontiguousarray(cmyk, np.uint8)
    handle = tj.tjInitCompress()
    output = ctypes.c_void_p()
    size = ctypes.c_ulong()
    try:
        status = tj.tjCompress2(handle, pixels.ctypes.data, pixels.shape[1], 0, pixels.shape[0],
                                tjpf_cmyk, ctypes.byref(output), ctypes.byref(size), tjsamp_420,
                                quality, 0)
        if status != 0:
            raise RuntimeError("tjCompress2 failed")
        return ctypes.string_at(output.value, size.value)
    finally:
        tj.tjFree(output)
        tj.tjDestroy(handle)


def _jpeg_segments(data: bytes):
    """(offset, marker, total length) of each marker segment before the first scan."""
    position = 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        length = int.from_bytes(data[position + 2:position + 4], "big")
        yield position, marker, 2 + length
        if marker == 0xDA:
            return
        position += 2 + length


def _without_adobe_marker(data: bytes) -> bytes:
    for position, marker, length in _jpeg_segments(data):
        if marker == 0xEE:
            return data[:position] + data[position + length:]
    raise AssertionError("no APP14 marker to remove")


def _adobe_transform(data: bytes):
    """The APP14 transform flag (0 CMYK, 2 YCCK), or None without an Adobe marker."""
    for position, marker, length in _jpeg_segments(data):
        if marker == 0xEE and data[position + 4:position + 9] == b"Adobe":
            return data[position + 15]
    return None


@unittest.skipIf(Image is None, "python3-pil is not installed: no reference CMYK conversion")
class CmykJpegTest(unittest.TestCase):
    """libstyle's RGB against Pillow's CMYK -> RGB conversion of the same file."""

    def setUp(self) -> None:
        rng = np.random.default_rng(21)
        # Smooth ink ramps plus noise: every ink level, and chroma that subsampling keeps.
        y, x = np.mgrid[0:48, 0:64]
        self.ink = np.stack([(x * 4) % 256, (y * 5) % 256, ((x + y) * 3) % 256,
                             (x * y) % 256], axis=-1).astype(np.int64)
        self.ink = np.clip(self.ink + rng.integers(-8, 9, self.ink.shape), 0, 255).astype(np.uint8)

    def assert_matches_pillow(self, data: bytes, inverted: bool = True) -> None:
        ours = libstyle.decode_image(data)
        self.assertEqual(ours.shape, (48, 64, 3))
        reference = Image.open(io.BytesIO(data))
        self.assertEqual(reference.mode, "CMYK")
        reference.load()
        if not inverted:
            # Pillow takes every CMYK JPEG as Adobe-inverted; a file without the marker holds
            # plain ink, so undo Pillow's inversion before its conversion.
            plain = 255 - np.asarray(reference)
            reference = Image.fromarray(plain.astype(np.uint8), "CMYK")
        expected = np.asarray(reference.convert("RGB"))
        # The same libjpeg decodes both and the formula is Pillow's: equal to the last bit.
        np.testing.assert_array_equal(ours, expected)

    def test_cmyk_written_by_pillow(self) -> None:
        buffer = io.BytesIO()
        Image.fromarray(self.ink, "CMYK").save(buffer, "JPEG", quality=95)
        data = buffer.getvalue()
        self.assertEqual(_adobe_transform(data), 0)  # plain CMYK, Adobe (inverted) convention
        self.assert_matches_pillow(data)

    def test_ycck_written_by_turbojpeg(self) -> None:
        data = _turbojpeg_cmyk(self.ink)
        self.assertEqual(_adobe_transform(data), 2)  # YCCK
        self.assert_matches_pillow(data)

    def test_cmyk_without_adobe_marker_is_plain_ink(self) -> None:
        buffer = io.BytesIO()
        Image.fromarray(self.ink, "CMYK").save(buffer, "JPEG", quality=95)
        data = _without_adobe_marker(buffer.getvalue())
        self.assertIsNone(_adobe_transform(data))
        self.assert_matches_pillow(data, inverted=False)

    def test_known_colours(self) -> None:
        # Adobe-inverted ink as stored: 255 = no ink. Paper white, full black, pure cyan.
        stored = np.zeros((16, 48, 4), np.uint8)
        stored[:, :16] = (255, 255, 255, 255)
        stored[:, 16:32] = (255, 255, 255, 0)
        stored[:, 32:] = (0, 255, 255, 255)
        buffer = io.BytesIO()
        Image.fromarray(255 - stored, "CMYK").save(buffer, "JPEG", quality=100)
        rgb = libstyle.decode_image(buffer.getvalue()).astype(int)
        for x, colour in ((8, (255, 255, 255)), (24, (0, 0, 0)), (40, (0, 255, 255))):
            np.testing.assert_allclose(rgb[8, x], colour, atol=2)


class WebpTest(unittest.TestCase):
    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="libstyle-py-")
        self.addCleanup(shutil.rmtree, self.directory, True)

    def test_lossless_round_trip_keeps_alpha(self) -> None:
        for channels in (3, 4):
            image = _support.test_image(13, 17, channels)
            path = os.path.join(self.directory, "a.webp")
            libstyle.save_image(path, image)
            np.testing.assert_array_equal(libstyle.load_image(path), image)

    def test_lossy_in_memory(self) -> None:
        image = _support.test_image(32, 48, 4)
        data = libstyle.encode_image(image, "webp", quality=85)
        self.assertEqual(data[:4], b"RIFF")
        self.assertEqual(data[8:12], b"WEBP")
        loaded = libstyle.decode_image(data)
        self.assertEqual(loaded.shape, image.shape)
        np.testing.assert_array_equal(loaded[..., 3], image[..., 3])

    @unittest.skipIf(Image is None, "python3-pil is not installed")
    def test_pillow_reads_ours_and_we_read_pillows(self) -> None:
        image = _support.test_image(20, 24, 4)
        path = os.path.join(self.directory, "ours.webp")
        libstyle.save_image(path, image)
        np.testing.assert_array_equal(np.asarray(Image.open(path)), image)
        buffer = io.BytesIO()
        Image.fromarray(image, "RGBA").save(buffer, "WEBP", lossless=True, exact=True)
        np.testing.assert_array_equal(libstyle.decode_image(buffer.getvalue()), image)

    def test_truncated(self) -> None:
        data = libstyle.encode_image(_support.test_image(20, 24), "webp")
        with self.assertRaisesRegex(libstyle.FormatError, "truncated WebP"):
            libstyle.decode_image(data[: len(data) // 2])


class WrongFileTest(unittest.TestCase):
    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="libstyle-py-")
        self.addCleanup(shutil.rmtree, self.directory, True)

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def assert_model_error(self, path: str, *parts: str) -> None:
        with self.assertRaises(libstyle.FormatError) as caught:
            libstyle.Model(path)
        message = str(caught.exception)
        self.assertIn(os.path.basename(path), message)
        for part in parts:
            self.assertIn(part, message)

    def test_image_as_model(self) -> None:
        for name, fmt in (("photo.jpg", "jpeg"), ("photo.png", "png"), ("photo.webp", "webp")):
            with open(self.path(name), "wb") as handle:
                handle.write(libstyle.encode_image(_support.test_image(), fmt))
            kind = {"jpeg": "JPEG", "png": "PNG", "webp": "WebP"}[fmt]
            self.assert_model_error(self.path(name), "this is a %s image, not a style model" % kind)

    def test_model_as_image(self) -> None:
        path = _support.write_model(self.path("m.safetensors"))
        with self.assertRaisesRegex(libstyle.FormatError,
                                    r"m\.safetensors: this is a safetensors file"):
            libstyle.load_image(path)

    def test_real_pytorch_files(self) -> None:
        try:
            import torch
        except ImportError:
            self.skipTest("python3-torch is not installed")
        state = {"features.0.weight": torch.zeros(4, 3, 3, 3), "features.0.bias": torch.zeros(4)}
        torch.save(state, self.path("new.pth"))
        torch.save(state, self.path("old.pth"), _use_new_zipfile_serialization=False)
        self.assert_model_error(self.path("new.pth"), "PyTorch file (torch.save, ZIP format)",
                                "python3 -m libstyle.convert from-pytorch")
        self.assert_model_error(self.path("old.pth"), "PyTorch file (torch.save, legacy pickle",
                                "from-pytorch")

    def test_real_onnx_file(self) -> None:
        try:
            import onnx
            from onnx import helper, TensorProto
        except ImportError:
            self.skipTest("python3-onnx is not installed")
        graph = helper.make_graph(
            [helper.make_node("Relu", ["x"], ["y"])], "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])])
        model = helper.make_model(graph, producer_name="pytorch")
        onnx.save(model, self.path("mosaic.onnx"))
        self.assert_model_error(self.path("mosaic.onnx"), "this is an ONNX model",
                                "python3 -m libstyle.convert from-onnx")
        with open(self.path("mosaic.onnx"), "rb") as handle:
            whole = handle.read()
        with open(self.path("cut.onnx"), "wb") as handle:
            handle.write(whole[: len(whole) - 5])
        self.assert_model_error(self.path("cut.onnx"), "this is an ONNX model")

    def test_empty_model(self) -> None:
        open(self.path("empty.safetensors"), "wb").close()
        self.assert_model_error(self.path("empty.safetensors"), "empty file (0 bytes)")


if __name__ == "__main__":
    unittest.main()
