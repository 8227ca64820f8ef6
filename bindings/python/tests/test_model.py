"""Model: loading from a file or bytes, info, metadata, save, errors, lifetime, ml5 import."""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import unittest

import numpy as np

import libstyle

from . import _support


class ModelTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="libstyle-py-")
        self.addCleanup(shutil.rmtree, self.directory, True)

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)


class LoadTest(ModelTestCase):
    def test_info(self) -> None:
        with libstyle.Model.from_bytes(_support.model_bytes()) as model:
            info = model.info
        self.assertEqual(info.arch, "johnson")
        self.assertEqual(info.padding, "reflect")
        self.assertEqual(info.upsample, "nearest_conv")
        self.assertEqual(info.norm, "instance")
        self.assertEqual(info.output, "linear")
        self.assertEqual(info.final_norm, "none")
        self.assertAlmostEqual(info.norm_eps, 1e-5, places=9)
        self.assertEqual(info.format_version, 1)
        self.assertEqual(info.widths, _support.WIDTHS)
        self.assertEqual(info.residual_blocks, 1)
        self.assertTrue(info.has_bias)
        expected = sum(t.size for t in _support.model_tensors().values())
        self.assertEqual(info.parameter_count, expected)
        self.assertEqual(info["arch"], "johnson")
        self.assertEqual(info.as_dict()["widths"], _support.WIDTHS)
        with self.assertRaises(KeyError):
            info["nope"]

    def test_without_biases(self) -> None:
        with libstyle.Model(_support.write_model(self.path("m.safetensors"), bias=False)) as model:
            self.assertFalse(model.info.has_bias)

    def test_metadata_in_file_order(self) -> None:
        metadata = {"zz": "1", "libstyle.name": "ordered", "aa": "2", "mm": "ünïcode"}
        with libstyle.Model(_support.model_bytes(metadata=metadata)) as model:
            self.assertEqual(list(model.metadata.items()), list(metadata.items()))
            self.assertEqual(model.get_metadata("aa"), "2")
            self.assertEqual(model.get_metadata("mm"), "ünïcode")
            self.assertIsNone(model.get_metadata("absent"))
            self.assertEqual(model.get_metadata("absent", "x"), "x")
            copy = model.metadata
            copy["zz"] = "changed"
            self.assertEqual(model.metadata["zz"], "1")

    def test_from_path_str_pathlike_bytearray_memoryview(self) -> None:
        import pathlib

        path = _support.write_model(self.path("m.safetensors"))
        data = _support.model_bytes()
        sources = [path, pathlib.Path(path), data, bytearray(data), memoryview(data)]
        infos = []
        for source in sources:
            with libstyle.Model(source) as model:
                infos.append(model.info)
        self.assertTrue(all(info == infos[0] for info in infos))
        self.assertEqual(libstyle.Model(path).name, path)
        self.assertEqual(libstyle.Model(data).name, "<memory>")
        with self.assertRaises(TypeError):
            libstyle.Model(12345)  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            libstyle.Model.from_bytes(path)  # type: ignore[arg-type]

    def test_save_then_load_gives_the_same_network(self) -> None:
        image = _support.test_image(16, 20)
        with libstyle.Model.from_bytes(_support.model_bytes(seed=3)) as model:
            target = self.path("saved.safetensors")
            model.save(target)
            with libstyle.Session(model) as session:
                expected = session.stylize(image)
            metadata = model.metadata
        with libstyle.Model(target) as again, libstyle.Session(again) as session:
            np.testing.assert_array_equal(session.stylize(image), expected)
            saved = again.metadata
        for key, value in metadata.items():
            self.assertEqual(saved[key], value)
        self.assertIn("libstyle.padding", saved)  # every libstyle.* key made explicit

    def test_load_log_callback(self) -> None:
        tensors = _support.model_tensors()
        tensors["in1.running_mean"] = np.zeros(_support.WIDTHS[0], np.float32)
        messages = []
        data = _support.safetensors_bytes(tensors, {})
        with libstyle.Model.from_bytes(data, log=lambda level, text: messages.append((level, text))):
            pass
        self.assertEqual(len(messages), 1, messages)
        self.assertEqual(messages[0][0], libstyle.LogLevel.INFO)
        self.assertIn("ignored 1 tensors", messages[0][1])

    def test_exception_in_load_log_is_raised(self) -> None:
        tensors = _support.model_tensors()
        tensors["in1.running_var"] = np.ones(_support.WIDTHS[0], np.float32)

        def log(level: int, text: str) -> None:
            raise KeyError("from the log callback")

        with self.assertRaises(KeyError):
            libstyle.Model.from_bytes(_support.safetensors_bytes(tensors), log=log)


class LoadErrorTest(ModelTestCase):
    def test_bad_bytes_are_a_format_error_with_the_message(self) -> None:
        with self.assertRaises(libstyle.FormatError) as caught:
            libstyle.Model.from_bytes(b"definitely not a safetensors file")
        error = caught.exception
        self.assertEqual(error.status, libstyle.Status.FORMAT)
        self.assertIn("<memory>", error.message)
        self.assertEqual(str(error), error.message)
        self.assertEqual(error.function, "style_model_load_memory")

    def test_truncated_file(self) -> None:
        data = _support.model_bytes()
        path = self.path("cut.safetensors")
        with open(path, "wb") as file:
            file.write(data[: len(data) // 2])
        with self.assertRaises(libstyle.FormatError) as caught:
            libstyle.Model(path)
        self.assertIn("cut.safetensors", str(caught.exception))

    def test_missing_file_is_an_io_error(self) -> None:
        path = self.path("absent.safetensors")
        with self.assertRaises(libstyle.StyleIOError) as caught:
            libstyle.Model(path)
        self.assertIsInstance(caught.exception, OSError)
        self.assertEqual(caught.exception.status, libstyle.Status.IO)
        self.assertIn("absent.safetensors", str(caught.exception))

    def test_missing_tensor_is_named(self) -> None:
        tensors = _support.model_tensors()
        del tensors["in3.weight"]
        with self.assertRaises(libstyle.FormatError) as caught:
            libstyle.Model.from_bytes(_support.safetensors_bytes(tensors))
        self.assertIn("in3.weight", str(caught.exception))

    def test_misshapen_tensor_is_named(self) -> None:
        tensors = _support.model_tensors()
        tensors["in1.weight"] = np.ones(_support.WIDTHS[0] - 1, np.float32)
        with self.assertRaises(libstyle.StyleError) as caught:
            libstyle.Model.from_bytes(_support.safetensors_bytes(tensors))
        self.assertIn("in1.weight", str(caught.exception))

    def test_unknown_libstyle_key_is_refused(self) -> None:
        data = _support.model_bytes(metadata={"libstyle.paddding": "reflect"})
        with self.assertRaises(libstyle.StyleError) as caught:
            libstyle.Model.from_bytes(data)
        self.assertIn("libstyle.paddding", str(caught.exception))
        self.assertIn(caught.exception.status,
                      (libstyle.Status.FORMAT, libstyle.Status.UNSUPPORTED))

    def test_max_bytes(self) -> None:
        data = _support.model_bytes()
        with self.assertRaises(libstyle.LimitError):
            libstyle.Model.from_bytes(data, max_bytes=len(data) - 1)
        libstyle.Model.from_bytes(data, max_bytes=len(data)).close()
        path = _support.write_model(self.path("m.safetensors"))
        with self.assertRaises(libstyle.StyleError):
            libstyle.Model(path, max_bytes=100)
        with self.assertRaises(ValueError):
            libstyle.Model(path, max_bytes=-1)

    def test_nul_in_path(self) -> None:
        with self.assertRaises(ValueError):
            libstyle.Model("bad\0name.safetensors")


class LifetimeTest(ModelTestCase):
    def test_double_close_and_use_after_close(self) -> None:
        model = libstyle.Model.from_bytes(_support.model_bytes())
        self.assertFalse(model.closed)
        model.close()
        model.close()
        self.assertTrue(model.closed)
        self.assertIn("closed", repr(model))
        for use in (lambda: model.info, lambda: model.metadata, lambda: model.save(self.path("x")),
                    lambda: model.get_metadata("a"), lambda: libstyle.Session(model)):
            with self.assertRaises(ValueError):
                use()
        with self.assertRaises(ValueError):
            with model:
                pass

    def test_context_manager_closes(self) -> None:
        with libstyle.Model.from_bytes(_support.model_bytes()) as model:
            self.assertFalse(model.closed)
        self.assertTrue(model.closed)

    def test_del_frees(self) -> None:
        for _ in range(20):
            model = libstyle.Model.from_bytes(_support.model_bytes())
            del model
        gc.collect()

    def test_save_errors(self) -> None:
        with libstyle.Model.from_bytes(_support.model_bytes()) as model:
            with self.assertRaises(libstyle.StyleIOError):
                model.save(self.path("no/such/dir/m.safetensors"))


class ImportMl5Test(ModelTestCase):
    def test_missing_directory(self) -> None:
        with self.assertRaises(libstyle.StyleError) as caught:
            libstyle.import_ml5(self.path("nothing-here"), self.path("out.safetensors"))
        self.assertIsInstance(caught.exception, (libstyle.StyleIOError, libstyle.FormatError))
        self.assertFalse(os.path.exists(self.path("out.safetensors")))

    def test_real_checkpoint(self) -> None:
        source = os.path.join(_support.shared_dir(), "models", "ml5", "wave")
        if not os.path.exists(os.path.join(source, "manifest.json")):
            self.skipTest("the ml5 checkpoints (../shared/models/ml5) are not available")
        out = self.path("wave.safetensors")
        libstyle.import_ml5(source, out, name="wave")
        with libstyle.Model(out) as model:
            self.assertEqual(model.get_metadata("libstyle.name"), "wave")
            self.assertEqual(model.info.padding, "tf_same")
            self.assertEqual(model.info.output, "tanh150")
            with libstyle.Session(model) as session:
                result = session.stylize(_support.test_image(24, 32))
        self.assertEqual(result.shape, (24, 32, 3))
        self.assertGreater(int(result.max()) - int(result.min()), 10)


if __name__ == "__main__":
    unittest.main()
