"""Loading the shared library, the ctypes declarations, versions and the error classes."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import unittest

import libstyle
from libstyle import _lib

from . import _support

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(libstyle.__file__)))


class LibraryLookupTest(unittest.TestCase):
    def test_loaded_library_is_reported(self) -> None:
        self.assertTrue(os.path.exists(libstyle.library_path), libstyle.library_path)

    def test_env_variable_pointing_nowhere_lists_the_place(self) -> None:
        missing = os.path.join(tempfile.gettempdir(), "no-such-dir-libstyle", "libstyle.so")
        with self.assertRaises(libstyle.LibraryNotFoundError) as caught:
            _lib.load_library({"LIBSTYLE_LIBRARY": missing})
        self.assertIsInstance(caught.exception, ImportError)
        self.assertIn(missing, str(caught.exception))
        self.assertIn("LIBSTYLE_LIBRARY", str(caught.exception))
        self.assertEqual(len(caught.exception.tried), 1)

    def test_env_variable_may_name_the_directory(self) -> None:
        directory = os.path.dirname(os.path.abspath(libstyle.library_path))
        library, path = _lib.load_library({"LIBSTYLE_LIBRARY": directory})
        self.assertEqual(library.style_version_number(), libstyle.version_number())
        self.assertTrue(os.path.basename(path).startswith("libstyle.so"), path)

    def test_a_library_that_is_not_libstyle_is_refused(self) -> None:
        import ctypes.util

        libm = ctypes.util.find_library("m")
        if libm is None:
            self.skipTest("no libm to try")
        with self.assertRaises(libstyle.LibraryNotFoundError) as caught:
            _lib.load_library({"LIBSTYLE_LIBRARY": libm})
        self.assertIn("not libstyle", str(caught.exception))

    def test_without_env_every_place_is_listed(self) -> None:
        # The package's own directory holds no library during development, and the system
        # has none either unless it was installed; either way the search must not crash.
        try:
            _lib.load_library({})
        except libstyle.LibraryNotFoundError as error:
            message = str(error)
            self.assertIn("next to the package", message)
            self.assertIn("find_library", message)
            self.assertIn("libstyle.so.0", message)
            self.assertGreaterEqual(len(error.tried), 3)

    def test_import_fails_with_import_error(self) -> None:
        env = dict(os.environ, LIBSTYLE_LIBRARY="/nonexistent/libstyle.so")
        result = subprocess.run(
            [sys.executable, "-c", "import libstyle"],
            cwd=PACKAGE_PARENT, env=env, capture_output=True, text=True, timeout=120,
        )
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("LibraryNotFoundError", result.stderr)
        self.assertIn("/nonexistent/libstyle.so", result.stderr)
        check = subprocess.run(
            [sys.executable, "-c",
             "try:\n import libstyle\nexcept ImportError as e:\n print(type(e).__name__)\n"],
            cwd=PACKAGE_PARENT, env=env, capture_output=True, text=True, timeout=120,
        )
        self.assertEqual(check.stdout.strip(), "LibraryNotFoundError", check.stderr)


class DeclarationsTest(unittest.TestCase):
    def test_every_header_function_is_declared(self) -> None:
        include = os.path.join(_support.repo_root(), "include")
        headers = [os.path.join(include, name) for name in ("libstyle.h", "libstyle_train.h")]
        if not all(os.path.exists(header) for header in headers):
            self.skipTest("include/libstyle.h or libstyle_train.h not found next to the bindings")
        names = set()
        for header in headers:
            with open(header, encoding="utf-8") as file:
                names |= set(_support.iter_header_functions(file.read()))
        self.assertGreater(len(names), 20)
        self.assertEqual(names - set(_lib.FUNCTIONS), set(), "functions missing from _lib")
        self.assertEqual(set(_lib.FUNCTIONS) - names, set(), "functions not in the header")
        for name in names:
            function = getattr(_lib.lib, name)
            self.assertIsNotNone(function.argtypes, name)
            if _lib.FUNCTIONS[name][2]:
                self.assertIsNotNone(function.errcheck, name)

    def test_versions_agree(self) -> None:
        major, minor, patch = (int(part) for part in libstyle.version().split("."))
        self.assertEqual(libstyle.version_number(), major * 10000 + minor * 100 + patch)
        self.assertEqual(major, _lib.SUPPORTED_MAJOR)

    def test_status_strings(self) -> None:
        self.assertEqual(libstyle.status_string(libstyle.Status.OK), "ok")
        self.assertEqual(libstyle.status_string(libstyle.Status.NOMEM), "out of memory")
        for status in libstyle.Status:
            self.assertTrue(libstyle.status_string(status))


class ErrorClassesTest(unittest.TestCase):
    def test_hierarchy(self) -> None:
        expected = {
            libstyle.Status.INVALID_ARGUMENT: (libstyle.InvalidArgumentError, ValueError),
            libstyle.Status.NOMEM: (libstyle.OutOfMemoryError, MemoryError),
            libstyle.Status.IO: (libstyle.StyleIOError, OSError),
            libstyle.Status.FORMAT: (libstyle.FormatError, libstyle.StyleError),
            libstyle.Status.UNSUPPORTED: (libstyle.UnsupportedError, libstyle.StyleError),
            libstyle.Status.LIMIT: (libstyle.LimitError, libstyle.StyleError),
            libstyle.Status.CANCELLED: (libstyle.CancelledError, libstyle.StyleError),
            libstyle.Status.BACKEND: (libstyle.BackendError, libstyle.StyleError),
            libstyle.Status.INTERNAL: (libstyle.InternalError, libstyle.StyleError),
        }
        from libstyle._errors import error_for_status

        for status, (cls, base) in expected.items():
            error = error_for_status(status, "detail %d" % status, "style_x")
            self.assertIs(type(error), cls)
            self.assertIsInstance(error, base)
            self.assertIsInstance(error, libstyle.StyleError)
            self.assertEqual(error.status, status)
            self.assertEqual(str(error), "detail %d" % status)
            self.assertEqual(error.function, "style_x")
            copy = pickle.loads(pickle.dumps(error))
            self.assertIs(type(copy), cls)
            self.assertEqual((copy.status, copy.message), (status, error.message))
        self.assertIs(type(error_for_status(1234, "new")), libstyle.InternalError)
        self.assertIsNone(libstyle.StyleIOError("x", 3).errno)

    def test_library_detail_message_reaches_the_exception(self) -> None:
        with self.assertRaises(libstyle.InvalidArgumentError) as caught:
            _lib.lib.style_session_set_threads(None, 1)
        self.assertIn("session_set_threads", str(caught.exception))
        self.assertEqual(caught.exception.function, "style_session_set_threads")


if __name__ == "__main__":
    unittest.main()
