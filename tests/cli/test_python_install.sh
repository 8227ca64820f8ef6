#!/usr/bin/env bash
# The README's Python install, as a new user does it: a fresh venv over Debian's Python, an
# offline `pip install ./bindings/python` after building the library, then stylizing a numpy
# image in three lines with no environment variable: the package bundles the build tree's
# libstyle.so.0 (bindings/python/setup.py). Also: $LIBSTYLE_LIBRARY still overrides the bundled
# copy, and a model given as an image (and the reverse) is named by what it is.
# Usage: test_python_install.sh SOURCE_DIR LIBSTYLE_SO CLI_FIXTURES SCRATCH
set -eu
src=$1
lib=$2
fixtures=$3
scratch=$4/python-install
rm -rf "$scratch"
mkdir -p "$scratch"
"$fixtures" make "$scratch"
passed=0
failed=0
result() { # result NAME STATUS
    if [ "$2" -eq 0 ]; then
        passed=$((passed + 1))
        echo "PASS: $1"
    else
        failed=$((failed + 1))
        echo "FAIL: $1"
    fi
}

# A checkout as the README leaves it: bindings/python next to build/ holding the library
# under test (whatever this build's own directory is called).
checkout=$scratch/checkout
mkdir -p "$checkout/bindings" "$checkout/build"
cp -r "$src/bindings/python" "$checkout/bindings/python"
rm -rf "$checkout/bindings/python/build" "$checkout/bindings/python/"*.egg-info
cp -L "$lib" "$checkout/build/libstyle.so.0"

/usr/bin/python3 -m venv --system-site-packages "$scratch/venv"
status=0
env -u LIBSTYLE_LIBRARY "$scratch/venv/bin/pip" install --no-build-isolation --no-index \
    "$checkout/bindings/python" >"$scratch/pip.log" 2>&1 || status=$?
[ "$status" -eq 0 ] || cat "$scratch/pip.log"
result "pip install ./bindings/python (offline, no environment variable)" "$status"

cd "$scratch"
status=0
env -u LIBSTYLE_LIBRARY "$scratch/venv/bin/python" - "$scratch/venv" <<'PY' || status=$?
import os, sys
import numpy as np
import libstyle
venv = os.path.realpath(sys.argv[1])
assert os.path.realpath(libstyle.library_path).startswith(venv + os.sep), libstyle.library_path
assert os.path.basename(libstyle.library_path) == "libstyle.so.0", libstyle.library_path
with libstyle.Model("model.safetensors") as model, libstyle.Session(model) as session:
    out = session.stylize(np.full((40, 30, 3), 128, np.uint8))
assert out.shape == (40, 30, 3) and out.dtype == np.uint8, (out.shape, out.dtype)
PY
result "the installed package loads its bundled libstyle.so.0 and stylizes" "$status"

status=0
LIBSTYLE_LIBRARY=$scratch/no-such-libstyle.so "$scratch/venv/bin/python" - <<'PY' || status=$?
try:
    import libstyle
except ImportError as error:
    assert "no-such-libstyle.so" in str(error) and "LIBSTYLE_LIBRARY is set" in str(error), error
else:
    raise SystemExit("LIBSTYLE_LIBRARY was not honoured")
PY
result "LIBSTYLE_LIBRARY overrides the bundled library" "$status"

status=0
env -u LIBSTYLE_LIBRARY "$scratch/venv/bin/python" - <<'PY' || status=$?
import libstyle
try:
    libstyle.Model("photo.jpg")
except libstyle.FormatError as error:
    assert "this is a JPEG image, not a style model" in str(error), error
else:
    raise SystemExit("a JPEG loaded as a model")
try:
    libstyle.load_image("model.safetensors")
except libstyle.FormatError as error:
    assert "safetensors file (a model or network), not an image" in str(error), error
else:
    raise SystemExit("a model loaded as an image")
PY
result "wrong files named by what they are (installed package)" "$status"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
