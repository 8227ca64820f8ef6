"""python3 -m libstyle.convert lossnet-from-pytorch: random-weight torchvision VGG-16 and
VGG-19 (Debian python3-torchvision), saved by torch.save in the zip format and in the legacy
pickle format (VGG-16 with its classifier), become loss networks that train 2 iterations."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

import libstyle
from libstyle import _safetensors, convert

from . import _support

try:
    import torch
    import torchvision
except ImportError:  # pragma: no cover - setup.sh installs both
    torch = None


def run_convert(pth: str, out: str, subprocess_too: bool = False):
    """`python3 -m libstyle.convert lossnet-from-pytorch PTH OUT`: (exit status, error text).
    In this process (importing torch once); with subprocess_too, the real command first."""
    if subprocess_too:
        done = subprocess.run([sys.executable, "-m", "libstyle.convert", "lossnet-from-pytorch",
                               pth, out], capture_output=True, text=True)
        if done.returncode != 0:
            return done.returncode, done.stderr
        os.remove(out)
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        status = convert.main(["lossnet-from-pytorch", pth, out])
    text = errors.getvalue()
    return status, "" if status == 0 and text.startswith("wrote ") else text


@unittest.skipIf(torch is None, "needs python3-torch and python3-torchvision")
class LossnetFromPytorchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.dir = tempfile.mkdtemp(prefix="libstyle-lossnet-")
        cls.data_dir = os.path.join(cls.dir, "photos")
        os.makedirs(cls.data_dir)
        for i in range(2):
            libstyle.save_image(os.path.join(cls.data_dir, "photo%d.png" % i),
                                _support.test_image(40, 44, seed=20 + i))
        cls.style_image = os.path.join(cls.dir, "style.png")
        libstyle.save_image(cls.style_image, _support.test_image(32, 32, seed=7))

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.dir, ignore_errors=True)

    def convert_and_train(self, kind: str, legacy: bool) -> None:
        torch.manual_seed(1)
        net = getattr(torchvision.models, kind)(weights=None)  # random weights
        state = net.state_dict()
        self.assertIn("classifier.6.weight", state)
        if kind == "vgg19":  # VGG-16 keeps its 120M-parameter classifier; saving it twice more
            state = {k: v for k, v in state.items() if k.startswith("features.")}  # is slow
        pth = os.path.join(self.dir, "%s-%s.pth" % (kind, "legacy" if legacy else "zip"))
        torch.save(state, pth, _use_new_zipfile_serialization=not legacy)
        with open(pth, "rb") as f:  # the two formats really differ
            self.assertEqual(f.read(2) == b"PK", not legacy)
        out = os.path.join(self.dir, kind + ".safetensors")
        self.assertEqual(run_convert(pth, out, subprocess_too=legacy and kind == "vgg16"), (0, ""))
        tensors, metadata = _safetensors.read(out)
        self.assertEqual(metadata["libstyle.kind"], "feature-net")
        self.assertEqual(json.loads(metadata["libstyle.input"]),
                         {"scale": 1 / 255, "mean": [0.485, 0.456, 0.406],
                          "std": [0.229, 0.224, 0.225]})
        self.assertFalse(any(name.startswith("classifier") for name in tensors))
        np.testing.assert_array_equal(tensors["features.0.weight"],
                                      state["features.0.weight"].numpy())
        np.testing.assert_array_equal(tensors["features.28.bias"],
                                      state["features.28.bias"].numpy())
        taps = json.loads(metadata["libstyle.taps"])
        self.assertEqual(taps["relu1_1"], 1)
        self.assertEqual(taps["relu4_3" if kind == "vgg16" else "relu4_4"],
                         22 if kind == "vgg16" else 26)
        model = os.path.join(self.dir, kind + "-model.safetensors")
        stats = []
        libstyle.train(style_image=self.style_image, data_dir=self.data_dir, loss_net=out,
                       out=model, iterations=2, widths=[4, 8, 8], residual_blocks=1,
                       crop_size=16, batch_size=1, threads=2, progress=stats.append)
        self.assertEqual(len(stats), 2)
        self.assertTrue(all(np.isfinite(s.total_loss) and s.total_loss > 0 for s in stats))
        with libstyle.Model(model) as trained:
            training = json.loads(trained.metadata["libstyle.training"])
        self.assertEqual(training["loss_net"], kind + ".safetensors")

    def test_vgg16_zip(self) -> None:
        self.convert_and_train("vgg16", legacy=False)

    def test_vgg16_legacy(self) -> None:
        self.convert_and_train("vgg16", legacy=True)

    def test_vgg19_zip(self) -> None:
        self.convert_and_train("vgg19", legacy=False)

    def test_vgg19_legacy(self) -> None:
        self.convert_and_train("vgg19", legacy=True)

    def test_not_a_vgg(self) -> None:
        pth = os.path.join(self.dir, "other.pth")
        torch.save({"features.0.weight": torch.zeros(8, 3, 3, 3)}, pth)
        status, message = run_convert(pth, os.path.join(self.dir, "x.safetensors"))
        self.assertEqual(status, 1)
        self.assertIn("not a torchvision VGG-16 or VGG-19", message)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "x.safetensors")))


if __name__ == "__main__":
    unittest.main()
