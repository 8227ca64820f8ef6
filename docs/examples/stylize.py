#!/usr/bin/env python3
"""Stylizes one picture with a libstyle model, in Python.

    python3 stylize.py /usr/local/share/libstyle/models/bricks.safetensors city.jpg styled.png

Written from docs/api.md and bindings/python/README.md: the libstyle package wraps the C
library (found through $LIBSTYLE_LIBRARY or the system); images are numpy arrays.
"""
import sys

import libstyle


def main(argv):
    if len(argv) != 4:
        print("usage: %s MODEL.safetensors INPUT OUTPUT" % argv[0], file=sys.stderr)
        return 2
    model_path, input_path, output_path = argv[1:]
    try:
        photo = libstyle.load_image(input_path)  # H x W x 3 uint8
        with libstyle.Model(model_path) as model, libstyle.Session(model) as session:
            styled = session.stylize(photo)
            name = model.get_metadata("libstyle.name", model_path)
        libstyle.save_image(output_path, styled)
    except libstyle.StyleError as error:  # a FormatError, StyleIOError, ... with the reason
        print("stylize.py: %s" % error, file=sys.stderr)
        return 1
    height, width = photo.shape[:2]
    print("%s: %dx%d with '%s' (libstyle %s) -> %s"
          % (input_path, width, height, name, libstyle.version(), output_path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
