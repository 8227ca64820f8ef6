"""Bundles the C library into the package when it is built (``pip install ./bindings/python``).

The metadata lives in pyproject.toml; this file only adds a build step that copies
``libstyle.so`` into the built package as ``libstyle/libstyle.so.0``, so that the installed
package works with no environment variable. The library taken is, in order:

1. ``$LIBSTYLE_LIBRARY`` at build time (a library file, or a directory holding one);
2. the repository's build tree, ``build/libstyle.so.0`` next to ``bindings/`` (what
   ``./setup.sh`` and README's cmake commands make).

When neither exists the package is built without a library and finds the system's at import
time by its SONAME (after ``cmake --install``; see libstyle/_lib.py for the full order).
``$LIBSTYLE_LIBRARY`` at run time still overrides the bundled copy.
"""

import glob
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
SONAME = "libstyle.so.0"


def _library_in(directory):
    """The SONAME file of a directory, else its shortest libstyle.so* name."""
    exact = os.path.join(directory, SONAME)
    if os.path.isfile(exact):
        return exact
    names = sorted(glob.glob(os.path.join(glob.escape(directory), "libstyle.so*")), key=len)
    return next((name for name in names if os.path.isfile(name)), None)


def library_to_bundle():
    """(path, where it came from) of the library to bundle, or (None, why not)."""
    configured = os.environ.get("LIBSTYLE_LIBRARY", "")
    if configured:
        path = _library_in(configured) if os.path.isdir(configured) else configured
        if not path or not os.path.isfile(path):
            raise SystemExit("LIBSTYLE_LIBRARY=%s: no libstyle.so there to bundle" % configured)
        return path, "$LIBSTYLE_LIBRARY"
    build_tree = os.path.normpath(os.path.join(HERE, "..", "..", "build"))
    path = _library_in(build_tree) if os.path.isdir(build_tree) else None
    if path:
        return path, "the build tree"
    return None, "no %s in %s and LIBSTYLE_LIBRARY is not set" % (SONAME, build_tree)


class BuildWithLibrary(build_py):
    """build_py, then a copy of the library (symbolic links followed) into the package."""

    def run(self):
        super().run()
        path, origin = library_to_bundle()
        if path is None:
            print("libstyle: not bundling the C library (%s); the package will look for the "
                  "installed one" % origin)
            return
        target = os.path.join(self.build_lib, "libstyle", SONAME)
        print("libstyle: bundling %s (from %s) as libstyle/%s" % (path, origin, SONAME))
        shutil.copyfile(path, target)
        os.chmod(target, 0o755)


class PlatformDistribution(Distribution):
    """A wheel that carries a shared library is specific to this platform, not py3-none-any."""

    def has_ext_modules(self):
        return library_to_bundle()[0] is not None


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=PlatformDistribution)
