"""evaluate(): a tiny trained model against Gatys on two tiny photos, its files found by the
names and SHA-256 its training provenance records; train(exclude=...) refusing a held-out
photo by content."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import unittest

import numpy as np

import libstyle

from . import _support
from .test_train import feature_net_bytes

SETTINGS = dict(iterations=2, widths=[4, 8, 8], residual_blocks=1, crop_size=24,
                batch_size=1, threads=1, content_layer="b", style_layers=["a", "b"])


def sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class EvaluateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.dir = tempfile.mkdtemp(prefix="libstyle-evaluate-")
        cls.search = os.path.join(cls.dir, "search")
        os.makedirs(cls.search)
        cls.loss_net = os.path.join(cls.search, "net.safetensors")
        with open(cls.loss_net, "wb") as file:
            file.write(feature_net_bytes())
        cls.style_image = os.path.join(cls.search, "style.png")
        style = _support.test_image(32, 32, seed=99)
        libstyle.save_image(cls.style_image, np.ascontiguousarray(style[::-1, :, ::-1]))
        cls.data_dir = os.path.join(cls.dir, "photos")
        os.makedirs(cls.data_dir)
        for i, (height, width) in enumerate(((40, 44), (30, 52), (48, 36))):
            libstyle.save_image(os.path.join(cls.data_dir, "photo%d.png" % i),
                                _support.test_image(height, width, seed=10 + i))
        # photo2 is held out (listed under another name).
        cls.held_out = os.path.join(cls.dir, "heldout.sha256")
        with open(cls.held_out, "w") as f:
            f.write("%s  elsewhere.png\n" % sha256(os.path.join(cls.data_dir, "photo2.png")))
        cls.messages = []
        cls.model = os.path.join(cls.dir, "model.safetensors")
        libstyle.train(out=cls.model, style_image=cls.style_image, data_dir=cls.data_dir,
                       loss_net=cls.loss_net, exclude=cls.held_out,
                       log=lambda level, message: cls.messages.append(message), **SETTINGS)

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_exclude_and_provenance(self) -> None:
        self.assertTrue(any("refusing" in m and "photo2.png" in m for m in self.messages))
        with libstyle.Model(self.model) as model:
            training = json.loads(model.metadata["libstyle.training"])
        self.assertEqual(training["dataset_size"], 2)
        self.assertEqual(training["style_image"], "style.png")
        self.assertEqual(training["style_image_sha256"], sha256(self.style_image))
        self.assertEqual(training["loss_net_sha256"], sha256(self.loss_net))
        self.assertEqual(training["exclude_sha256"], sha256(self.held_out))
        self.assertNotIn(self.dir, json.dumps(training))

    def test_evaluate(self) -> None:
        out = os.path.join(self.dir, "report")
        events = []
        summary = libstyle.evaluate(model=self.model, photos=self.data_dir, search=[self.search],
                                    out_dir=out, cache_dir=os.path.join(self.dir, "cache"),
                                    size=24, style_size=16, gatys_iterations=3, threads=1,
                                    progress=events.append)
        self.assertEqual(summary["photos"], 3)
        self.assertEqual(summary["gatys_iterations"], 3)
        report = summary["report"]
        self.assertEqual(report["definition"], libstyle.EVALUATION_DEFINITION)
        self.assertTrue(report["overridden"])
        self.assertEqual(report["style_image"]["sha256"], sha256(self.style_image))
        self.assertEqual([p["photo"] for p in report["photos"]],
                         ["photo0.png", "photo1.png", "photo2.png"])
        medians = sorted(p["color_model"] for p in report["photos"])[1]
        self.assertAlmostEqual(summary["color_model"], medians, places=5)
        self.assertEqual(sum(e["stage"] == "done" for e in events), 3)
        self.assertEqual(sum(e["stage"] == "gatys" for e in events), 9)
        for name in ("photo0", "photo1", "photo2"):
            self.assertTrue(os.path.exists(os.path.join(out, "sheets", name + ".png")))

    def test_missing_files_are_named(self) -> None:
        with self.assertRaises(libstyle.StyleError) as caught:
            libstyle.evaluate(model=self.model, photos=self.data_dir, size=24,
                              gatys_iterations=1)
        self.assertIn("style.png", str(caught.exception))
        self.assertIn("--search", str(caught.exception))


class EvaluateAdainTest(unittest.TestCase):
    """evaluate() of a tiny AdaIN model (trained 2 iterations) on 2 photos x 2 styles."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.dir = tempfile.mkdtemp(prefix="libstyle-evaluate-adain-")
        cls.search = os.path.join(cls.dir, "search")
        os.makedirs(cls.search)
        cls.loss_net = os.path.join(cls.search, "net.safetensors")
        with open(cls.loss_net, "wb") as file:
            file.write(feature_net_bytes())
        cls.styles = []
        for sub, seed in (("photos", 10), ("styles", 50)):
            os.makedirs(os.path.join(cls.dir, sub))
            for i in range(2):
                path = os.path.join(cls.dir, sub, "%s%d.png" % (sub[0], i))
                libstyle.save_image(path, _support.test_image(28 + 4 * i, 32, seed=seed + i))
                if sub == "styles":
                    cls.styles.append(path)
        cls.model = os.path.join(cls.dir, "adain.safetensors")
        libstyle.train_adain(data_dir=os.path.join(cls.dir, "photos"),
                             styles_dir=os.path.join(cls.dir, "styles"), loss_net=cls.loss_net,
                             out=cls.model, tap="b", crop_size=16, batch_size=1, iterations=2,
                             threads=1)

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_pairs(self) -> None:
        out = os.path.join(self.dir, "report")
        events = []
        summary = libstyle.evaluate(model=self.model, photos=os.path.join(self.dir, "photos"),
                                    search=[self.search], style_images=self.styles,
                                    out_dir=out, size=24, style_size=16, gatys_iterations=2,
                                    threads=1, progress=events.append)
        self.assertEqual(summary["photos"], 4)  # (style, photo) pairs
        report = summary["report"]
        self.assertEqual(report["model"]["arch"], "adain")
        pairs = [(p["style_image"], p["photo"]) for p in report["photos"]]
        self.assertEqual(pairs, [("s0.png", "p0.png"), ("s0.png", "p1.png"),
                                 ("s1.png", "p0.png"), ("s1.png", "p1.png")])
        done = [e for e in events if e["stage"] == "style-done"]
        self.assertEqual([e["style_image"] for e in done], ["s0.png", "s1.png"])
        for event, style in zip(done, report["styles"]):
            self.assertEqual(event["style_summary"]["photos"], 2)
            self.assertEqual(style["sha256"], sha256(os.path.join(self.dir, "styles",
                                                                  event["style_image"])))
            self.assertAlmostEqual(style["summary"]["color_model"],
                                   event["style_summary"]["color_model"], places=5)
            rows = [p["color_model"] for p in report["photos"]
                    if p["style_image"] == event["style_image"]]
            self.assertAlmostEqual(event["style_summary"]["color_model"], sum(rows) / 2,
                                   places=5)
        self.assertTrue(os.path.exists(os.path.join(out, "sheets", "s1", "p0.png")))

    def test_style_folder_and_errors(self) -> None:
        summary = libstyle.evaluate(model=self.model, photos=os.path.join(self.dir, "photos"),
                                    search=[self.search], styles_dir=os.path.join(self.dir,
                                                                                  "styles"),
                                    size=24, style_size=16, gatys_iterations=1, threads=1)
        self.assertEqual(summary["photos"], 4)
        with self.assertRaises(libstyle.StyleError) as caught:
            libstyle.evaluate(model=self.model, photos=os.path.join(self.dir, "photos"),
                              search=[self.search], size=24, gatys_iterations=1)
        self.assertIn("adain.safetensors", str(caught.exception))
        self.assertIn("--style-image", str(caught.exception))
        with self.assertRaises(TypeError):
            libstyle.evaluate(model=self.model, photos=self.dir, style_images=self.styles[0])


if __name__ == "__main__":
    unittest.main()
