"""Converters (libstyle.convert): pytorch/examples .pth and ONNX zoo graphs in, ONNX out.

The zoo's files cannot be downloaded here, so the tests make their own: a pytorch/examples
TransformerNet with random weights, saved as a .pth state_dict (also in the legacy form with
InstanceNorm running stats) and exported by torch.onnx.export as the zoo did (opset 9 with
Upsample; opset 11 with Resize and dynamic height/width). Each is converted and run by
libstyle; the result must equal PyTorch's output. Exported graphs are run by OpenCV dnn and
must equal libstyle's output. Tolerance: 0.01 on the 0..255 scale (float32 through different
convolution orders; measured differences are about 1e-3).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import warnings

import numpy as np
import torch

import libstyle
from libstyle import _safetensors, convert

from . import _support
from ._transformer_net import random_net

TOLERANCE = 0.01  # on the 0..255 scale


def photo(height: int = 36, width: int = 44) -> np.ndarray:
    """A float32 RGB picture in 0..255, multiples of 4 (what ONNX runtimes need)."""
    return _support.test_image(height, width).astype(np.float32)


def torch_output(net: torch.nn.Module, image: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        y = net(torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)[None])))
    return np.clip(y[0].numpy().transpose(1, 2, 0), 0, 255)


def libstyle_output(model_path: str, image: np.ndarray) -> np.ndarray:
    with libstyle.Model(model_path) as model, libstyle.Session(model) as session:
        session.threads = 2
        return session.stylize(image)


def opencv_output(onnx_path: str, image: np.ndarray) -> np.ndarray:
    import cv2

    net = cv2.dnn.readNetFromONNX(onnx_path)
    net.setInput(np.ascontiguousarray(image.transpose(2, 0, 1)[None]))
    return np.clip(net.forward()[0].transpose(1, 2, 0), 0, 255)


def export_zoo_layout(net: torch.nn.Module, path: str, opset: int, dynamic: bool) -> None:
    """torch.onnx.export as the zoo's fast_neural_style graphs were made."""
    image = torch.from_numpy(np.ascontiguousarray(photo().transpose(2, 0, 1)[None]))
    axes = {"input1": {2: "height", 3: "width"}, "output1": {2: "height", 3: "width"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # opset 9 Upsample is deprecated; that is the point
        torch.onnx.export(net, image, path, opset_version=opset, input_names=["input1"],
                          output_names=["output1"], dynamic_axes=axes if dynamic else None)


class ConvertTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="libstyle-convert-")
        self.addCleanup(shutil.rmtree, self.directory, True)

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def assertClose(self, got: np.ndarray, want: np.ndarray) -> None:
        self.assertEqual(got.shape, want.shape)
        self.assertGreater(float(want.std()), 5.0, "the test picture is flat")
        difference = float(np.abs(got.astype(np.float64) - want).max())
        self.assertLess(difference, TOLERANCE)


class FromPytorchTest(ConvertTestCase):
    def test_state_dict_matches_pytorch(self) -> None:
        net = random_net(seed=1)
        torch.save(net.state_dict(), self.path("net.pth"))
        convert.from_pytorch(self.path("net.pth"), self.path("net.safetensors"), name="mosaic")
        image = photo()
        self.assertClose(libstyle_output(self.path("net.safetensors"), image),
                         torch_output(net, image))
        with libstyle.Model(self.path("net.safetensors")) as model:
            self.assertEqual(model.get_metadata("libstyle.name"), "mosaic")
            self.assertIn("net.pth", model.get_metadata("libstyle.source"))
            self.assertEqual(model.info.widths, (8, 16, 32))
            self.assertEqual(model.info.residual_blocks, 2)

    def test_legacy_checkpoint_with_running_stats(self) -> None:
        # PyTorch < 0.4 saved running_mean/running_var for every InstanceNorm2d, resN.inK too.
        net = random_net(seed=2)
        state = dict(net.state_dict())
        for key in list(state):
            if key.split(".")[-2].startswith("in") and key.endswith(".weight"):
                prefix = key[: -len("weight")]
                channels = state[key].shape[0]
                state[prefix + "running_mean"] = torch.randn(channels)
                state[prefix + "running_var"] = torch.rand(channels) + 0.5
                state[prefix + "num_batches_tracked"] = torch.tensor(7)
        self.assertIn("res2.in1.running_var", state)
        torch.save({"state_dict": state}, self.path("legacy.pth"))
        convert.from_pytorch(self.path("legacy.pth"), self.path("legacy.safetensors"))
        tensors, metadata = _safetensors.read(self.path("legacy.safetensors"))
        self.assertFalse([k for k in tensors if "running" in k or "batches" in k])
        self.assertEqual(metadata["libstyle.name"], "legacy")
        image = photo()
        self.assertClose(libstyle_output(self.path("legacy.safetensors"), image),
                         torch_output(net, image))

    def test_not_a_transformer_net(self) -> None:
        torch.save({"fc.weight": torch.zeros(2, 2)}, self.path("other.pth"))
        with self.assertRaisesRegex(ValueError, "other.pth.*conv1.conv2d.weight"):
            convert.from_pytorch(self.path("other.pth"), self.path("other.safetensors"))
        self.assertFalse(os.path.exists(self.path("other.safetensors")))

    def test_misshapen_weights_are_refused_by_the_library(self) -> None:
        state = dict(random_net(seed=3).state_dict())
        state["in2.weight"] = state["in2.weight"][:-1]
        torch.save(state, self.path("bad.pth"))
        with self.assertRaisesRegex(libstyle.FormatError, "in2.weight"):
            convert.from_pytorch(self.path("bad.pth"), self.path("bad.safetensors"))
        self.assertFalse(os.path.exists(self.path("bad.safetensors")))


class FromOnnxTest(ConvertTestCase):
    def check_zoo_graph(self, opset: int, dynamic: bool) -> None:
        net = random_net(seed=4)
        export_zoo_layout(net, self.path("mosaic-%d.onnx" % opset), opset, dynamic)
        convert.from_onnx(self.path("mosaic-%d.onnx" % opset), self.path("mosaic.safetensors"))
        image = photo()
        self.assertClose(libstyle_output(self.path("mosaic.safetensors"), image),
                         torch_output(net, image))
        # The weights themselves, not only the picture: exact copies.
        tensors, metadata = _safetensors.read(self.path("mosaic.safetensors"))
        for name, value in net.state_dict().items():
            np.testing.assert_array_equal(tensors[name], value.numpy(), err_msg=name)
        self.assertEqual(len(tensors), len(net.state_dict()))
        self.assertEqual(metadata["libstyle.padding"], "reflect")
        self.assertEqual(float(metadata["libstyle.norm_eps"]), 1e-5)

    def test_opset9_upsample_like_the_zoo(self) -> None:
        self.check_zoo_graph(9, dynamic=False)

    def test_opset11_resize_dynamic_size(self) -> None:
        self.check_zoo_graph(11, dynamic=True)

    def test_bilinear_upsampling_is_refused(self) -> None:
        export_zoo_layout(random_net(seed=5, upsample_mode="bilinear"), self.path("b.onnx"), 11,
                          False)
        with self.assertRaisesRegex(ValueError, "b.onnx: Resize .* mode linear, not nearest"):
            convert.from_onnx(self.path("b.onnx"), self.path("b.safetensors"))
        self.assertFalse(os.path.exists(self.path("b.safetensors")))

    def test_other_network_is_refused(self) -> None:
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, padding=1), torch.nn.Sigmoid())
        export_zoo_layout(net, self.path("s.onnx"), 11, False)
        with self.assertRaisesRegex(ValueError, "s.onnx: unexpected Sigmoid node"):
            convert.from_onnx(self.path("s.onnx"), self.path("s.safetensors"))


# Model variants of docs/formats.md section 1, as metadata over _support's random tensors.
VARIANTS = {
    "pytorch-examples": {},
    "ml5": {"libstyle.padding": "tf_same", "libstyle.upsample": "transposed_tf",
            "libstyle.norm_eps": "1e-3", "libstyle.output": "tanh150",
            "libstyle.final_norm": "instance"},
    "transposed-torch-zero-pad": {"libstyle.upsample": "transposed_torch",
                                  "libstyle.padding": "zero"},
    "batch-norm": {"libstyle.norm": "batch"},
}


def variant_model(path: str, variant: str) -> None:
    metadata = dict(convert._JOHNSON_METADATA)
    metadata.update(VARIANTS[variant])
    tensors = _support.model_tensors(seed=6, bias=variant != "ml5")
    rng = np.random.default_rng(7)
    if metadata["libstyle.upsample"] != "nearest_conv":  # ConvTranspose2d layout [in, out, k, k]
        for name in ("deconv1.conv2d.weight", "deconv2.conv2d.weight"):
            tensors[name] = np.ascontiguousarray(tensors[name].transpose(1, 0, 2, 3))
    if metadata["libstyle.final_norm"] == "instance":
        tensors["in6.weight"] = np.full(3, 40.0, np.float32) / 150.0
        tensors["in6.bias"] = np.zeros(3, np.float32)
    if metadata["libstyle.norm"] == "batch":
        for name in [n for n in tensors if n.endswith(".weight") and ".conv2d." not in n]:
            channels = tensors[name].shape[0]
            stem = name[: -len("weight")]
            tensors[stem + "running_mean"] = rng.normal(0, 1, channels).astype(np.float32)
            tensors[stem + "running_var"] = rng.uniform(0.5, 2, channels).astype(np.float32)
    with open(path, "wb") as file:
        file.write(_safetensors.to_bytes(tensors, metadata))


class ToOnnxTest(ConvertTestCase):
    def test_variants_run_in_opencv_like_in_libstyle(self) -> None:
        image = photo()
        for variant in VARIANTS:
            model = self.path(variant + ".safetensors")
            variant_model(model, variant)
            want = libstyle_output(model, image)
            for opset in (9, 13):
                with self.subTest(variant=variant, opset=opset):
                    graph = self.path("%s-%d.onnx" % (variant, opset))
                    convert.to_onnx(model, graph, opset=opset)
                    self.assertClose(opencv_output(graph, image), want)

    def test_bundled_model_round_trips(self) -> None:
        # A real trained model: export, import again, same tensors and the same picture.
        bundled = os.path.join(_support.repo_root(), "models", "starry-night.safetensors")
        convert.to_onnx(bundled, self.path("starry.onnx"))
        convert.from_onnx(self.path("starry.onnx"), self.path("back.safetensors"))
        original, _ = _safetensors.read(bundled)
        back, metadata = _safetensors.read(self.path("back.safetensors"))
        self.assertEqual(sorted(original), sorted(back))
        for name in original:
            np.testing.assert_array_equal(back[name], original[name], err_msg=name)
        image = photo()
        self.assertClose(opencv_output(self.path("starry.onnx"), image),
                         libstyle_output(bundled, image))

    def test_graph_layout(self) -> None:
        import onnx

        variant_model(self.path("m.safetensors"), "pytorch-examples")
        convert.to_onnx(self.path("m.safetensors"), self.path("m.onnx"))
        graph = onnx.load(self.path("m.onnx"))
        self.assertEqual(graph.opset_import[0].version, 9)
        self.assertEqual([i.name for i in graph.graph.input], ["input1"])
        self.assertEqual([o.name for o in graph.graph.output], ["output1"])
        ops = {n.op_type for n in graph.graph.node}
        self.assertEqual(ops, {"Pad", "Conv", "InstanceNormalization", "Relu", "Add", "Upsample",
                               "Identity"})


class CommandLineTest(ConvertTestCase):
    def run_convert(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "libstyle.convert", *args],
                              capture_output=True, text=True, timeout=120,
                              cwd=os.path.join(os.path.dirname(__file__), ".."))

    def test_round_trip_through_the_command_line(self) -> None:
        torch.save(random_net(seed=8).state_dict(), self.path("n.pth"))
        done = self.run_convert("from-pytorch", self.path("n.pth"), self.path("n.safetensors"),
                                "--name", "eight")
        self.assertEqual(done.returncode, 0, done.stderr)
        done = self.run_convert("to-onnx", self.path("n.safetensors"), self.path("n.onnx"),
                                "--opset", "11")
        self.assertEqual(done.returncode, 0, done.stderr)
        done = self.run_convert("from-onnx", self.path("n.onnx"), self.path("m.safetensors"))
        self.assertEqual(done.returncode, 0, done.stderr)
        with libstyle.Model(self.path("m.safetensors")) as model:
            # The name travelled through the ONNX graph (metadata_props).
            self.assertEqual(model.get_metadata("libstyle.name"), "eight")
            self.assertIn("n.pth", model.get_metadata("libstyle.source"))

    def test_outputs_honour_the_umask(self) -> None:
        # Issue 23 item 8: the written files are 0666 less the umask (mkstemp alone gives 0600),
        # like every other file libstyle writes; names up to 255 bytes work (item 7).
        bundled = os.path.join(_support.repo_root(), "models", "starry-night.safetensors")
        for mask in (0o022, 0o027):
            onnx_path = self.path("u%o.onnx" % mask)
            back = self.path("u%o.safetensors" % mask)
            for args in (("to-onnx", bundled, onnx_path), ("from-onnx", onnx_path, back)):
                done = subprocess.run([sys.executable, "-m", "libstyle.convert", *args],
                                      capture_output=True, text=True, timeout=120,
                                      cwd=os.path.join(os.path.dirname(__file__), ".."),
                                      preexec_fn=lambda: os.umask(mask))
                self.assertEqual(done.returncode, 0, done.stderr)
            for written in (onnx_path, back):
                with self.subTest(mask=oct(mask), file=os.path.basename(written)):
                    self.assertEqual(os.stat(written).st_mode & 0o777, 0o666 & ~mask)
        long_name = self.path("n" * (255 - len(".safetensors")) + ".safetensors")
        _safetensors.write_atomic(long_name, b"x")
        with open(long_name, "rb") as file:
            self.assertEqual(file.read(), b"x")

    def test_errors_exit_1_with_one_line(self) -> None:
        done = self.run_convert("from-onnx", self.path("missing.onnx"), self.path("x.safetensors"))
        self.assertEqual(done.returncode, 1)
        self.assertRegex(done.stderr, r"^libstyle.convert: .*missing.onnx")
        done = self.run_convert("to-onnx")
        self.assertEqual(done.returncode, 2)  # argparse's usage error
