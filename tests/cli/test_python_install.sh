#!/usr/bin/env bash
# The README's Python install, as a new user does it: a venv over Debian's Python, an offline
# pip install of bindings/python, then stylizing a numpy image in three lines.
# Usage: test_python_install.sh SOURCE_DIR LIBSTYLE_SO CLI_FIXTURES SCRATCH
set -eu
src=$1
lib=$2
fixtures=$3
scratch=$4/python-install
rm -rf "$scratch"
mkdir -p "$scratch"
"$fixtures" make "$scratch"
/usr/bin/python3 -m venv --system-site-packages "$scratch/venv"
"$scratch/venv/bin/pip" install --quiet --no-build-isolation --no-index "$src/bindings/python" \
    >"$scratch/pip.log" 2>&1 || { cat "$scratch/pip.log"; echo "0 passed, 1 failed"; exit 1; }
cd "$scratch"
LIBSTYLE_LIBRARY=$lib "$scratch/venv/bin/python" - <<'PY'
import numpy as np
import libstyle
with libstyle.Model("model.safetensors") as model, libstyle.Session(model) as session:
    out = session.stylize(np.full((40, 30, 3), 128, np.uint8))
assert out.shape == (40, 30, 3) and out.dtype == np.uint8, (out.shape, out.dtype)
PY
echo "1 passed, 0 failed"
