#!/usr/bin/python3
"""Writes the fuzz seed corpora (tests/fuzz/seeds/<target>/) from real files, kept small.

    tests/fuzz/make_seeds.py [--shared ../shared]

- model, safetensors: the header (metadata, tensor names, layout) of each bundled model
  (models/*.safetensors, the AdaIN one included) with its tensors shrunk to a tiny network
  (widths 2, 1 residual block) of the same architecture, in F32 and in F16; plus the real
  header alone (truncated). model also gets tiny variants of the Johnson network that no
  bundled model has: johnson-cin (2 styles), batch norm with tanh150 and a final norm, and
  the ml5 form (tf_same padding, transposed_tf upsampling, no biases).
- feature_net: darknet-tiny's spec (../shared/lossnets) with 1-2 channels per conv, and a
  tiny torchvision-VGG-16-shaped state_dict (the recognised-VGG path).
- png, jpeg, webp: docs/examples/city.jpg downscaled to 16x12 and saved in each colour type,
  bit depth and mode the decoders handle (without their first bytes: fuzz_image.c prepends
  them); WebP lossless and lossy, with and without alpha.
- ml5_manifest: the manifest.json of each ../shared/models/ml5 network.
Deterministic: the same inputs give the same bytes.
"""
import argparse
import io
import json
import os
import re
import struct
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header_bytes = f.read(n)
    return header_bytes, json.loads(header_bytes)


def safetensors(tensors, metadata, dtype="F32"):
    """tensors: list of (name, numpy array)."""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    blobs, offset = [], 0
    for name, array in tensors:
        data = array.astype("<f2" if dtype == "F16" else "<f4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def conv_index(name, prefix):
    m = re.match(prefix + r"(\d+)\.weight$", name)
    return int(m.group(1)) if m else None


def shrink_adain(header):
    """An AdaIN model with every conv 2 wide: the encoder reads 3 channels, the decoder writes 3."""
    rng = np.random.default_rng(0)
    names = [n for n in header if n != "__metadata__"]
    encoder = [i for i in (conv_index(n, r"encoder\.features\.") for n in names) if i is not None]
    decoder = [i for i in (conv_index(n, r"decoder\.") for n in names) if i is not None]
    first_in = "encoder.features.%d." % min(encoder)
    last_out = "decoder.%d." % max(decoder)
    out = []
    for name in names:
        shape = list(header[name]["shape"])
        if len(shape) == 4:
            shape[0] = 3 if name.startswith(last_out) else 2
            shape[1] = 3 if name.startswith(first_in) else 2
        else:
            shape[0] = 3 if name.startswith(last_out) else 2
        out.append((name, rng.standard_normal(shape).astype(np.float32) * 0.1))
    return out


def shrink_model(header):
    """The same tensor names (first residual block only) with every width 2."""
    if header.get("__metadata__", {}).get("libstyle.arch") == "adain":
        return shrink_adain(header)
    rng = np.random.default_rng(0)
    out = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        m = re.match(r"res(\d+)\.", name)
        if m and m.group(1) != "1":
            continue
        shape = list(entry["shape"])
        if len(shape) == 4:
            # conv1 reads 3 channels; deconv3 writes 3; everything else is width 2.
            first_in = name.startswith("conv1.")
            last_out = name.startswith("deconv3.")
            if "deconv" in name and "deconv3" not in name and entry["shape"][0] != 3:
                # transposed [in, out, k, k]
                shape[0], shape[1] = 2, 2
            else:
                shape[0] = 3 if last_out else 2
                shape[1] = 3 if first_in else 2
        elif len(shape) == 1:
            shape[0] = 3 if name.startswith("deconv3.") else 2
        array = rng.standard_normal(shape).astype(np.float32) * 0.1
        if name.endswith("running_var"):
            array = np.abs(array) + 0.5
        out.append((name, array))
    return out


def write(target, name, data):
    directory = os.path.join(HERE, "seeds", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def model_seeds():
    for path in sorted(os.listdir(os.path.join(ROOT, "models"))):
        if not path.endswith(".safetensors"):
            continue
        stem = path[: -len(".safetensors")]
        header_bytes, header = read_header(os.path.join(ROOT, "models", path))
        tiny = shrink_model(header)
        metadata = header.get("__metadata__", {})
        for target in ("model", "safetensors"):
            write(target, stem + "-tiny-f32.safetensors", safetensors(tiny, metadata))
        write("model", stem + "-tiny-f16.safetensors", safetensors(tiny, metadata, "F16"))
        # The real header without its data: exercises the error paths of the full layout.
        write("safetensors", stem + "-header-only.safetensors",
              struct.pack("<Q", len(header_bytes)) + header_bytes)
    variant_seeds(os.path.join(ROOT, "models", "starry-night.safetensors"))
    write("safetensors", "zero-d-and-empty.safetensors",
          safetensors([("scalar", np.array(1.5, np.float32)),
                       ("empty", np.zeros((0, 3), np.float32))], {"k": "v"}))


def variant_seeds(path):
    """Tiny Johnson networks in the forms no bundled model has (docs/formats.md)."""
    _, header = read_header(path)
    tiny = shrink_model(header)
    base = {k: v for k, v in header["__metadata__"].items() if k != "libstyle.training"}
    is_norm = re.compile(r"(res\d+\.)?in\d+\.(weight|bias)$")

    cin = [(n, np.stack([a, a * 0.5 + 0.1]) if is_norm.match(n) else a) for n, a in tiny]
    write("model", "variant-cin-tiny-f32.safetensors",
          safetensors(cin, dict(base, **{"libstyle.arch": "johnson-cin",
                                          "libstyle.styles": '["s0","s1"]'})))

    rng = np.random.default_rng(2)
    batch = list(tiny) + [("in6.weight", np.ones(3, np.float32)),
                          ("in6.bias", np.zeros(3, np.float32))]
    for name, array in batch:
        m = re.match(r"((res\d+\.)?in\d+)\.weight$", name)
        if m:
            batch.append((m.group(1) + ".running_mean", rng.standard_normal(array.shape) * 0.1))
            batch.append((m.group(1) + ".running_var", np.abs(rng.standard_normal(array.shape)) + 0.5))
    write("model", "variant-batch-tanh-tiny-f32.safetensors",
          safetensors(batch, dict(base, **{"libstyle.norm": "batch", "libstyle.output": "tanh150",
                                           "libstyle.final_norm": "instance",
                                           "libstyle.norm_eps": "0.001"})))

    ml5 = [(n, a) for n, a in tiny if not n.endswith("conv2d.bias")]
    write("model", "variant-ml5-tiny-f32.safetensors",
          safetensors(ml5, dict(base, **{"libstyle.padding": "tf_same",
                                         "libstyle.upsample": "transposed_tf"})))


def feature_net_seeds(shared):
    path = os.path.join(shared, "lossnets", "darknet-tiny.safetensors")
    rng = np.random.default_rng(1)
    if os.path.exists(path):
        _, header = read_header(path)
        metadata = header["__metadata__"]
        layers = json.loads(metadata["libstyle.layers"])
        tensors, channels = [], 3
        for i, layer in enumerate(layers):
            if layer["op"] != "conv":
                continue
            k, out = layer["kernel"], 2
            tensors.append((f"features.{i}.weight",
                            rng.standard_normal((out, channels, k, k)).astype(np.float32)))
            tensors.append((f"features.{i}.bias", np.zeros(out, np.float32)))
            channels = out
        write("feature_net", "darknet-tiny-narrow.safetensors", safetensors(tensors, metadata))
    vgg16 = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    tensors, channels = [], 3
    for i in vgg16:
        tensors.append((f"features.{i}.weight",
                        rng.standard_normal((1, channels, 3, 3)).astype(np.float32)))
        tensors.append((f"features.{i}.bias", np.zeros(1, np.float32)))
        channels = 1
    write("feature_net", "vgg16-narrow.safetensors", safetensors(tensors, {}))


def image_seeds():
    photo = Image.open(os.path.join(ROOT, "docs", "examples", "city.jpg")).convert("RGB")
    small = photo.resize((16, 12), Image.BILINEAR)

    def png(image, name, **kwargs):
        buffer = io.BytesIO()
        image.save(buffer, "PNG", **kwargs)
        write("png", name, buffer.getvalue()[8:])

    png(small, "rgb8.png")
    png(small.convert("RGBA"), "rgba8.png")
    png(small.convert("L"), "grey8.png")
    png(small.convert("P", palette=Image.ADAPTIVE, colors=16), "palette4.png", bits=4)
    wide = (np.asarray(small.convert("L"), np.uint16) * 257)
    png(Image.fromarray(wide), "grey16.png")

    def jpeg(image, name, **kwargs):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", **kwargs)
        write("jpeg", name, buffer.getvalue()[2:])

    jpeg(small, "baseline-420.jpg", quality=80)
    jpeg(small, "baseline-444.jpg", quality=90, subsampling=0)
    jpeg(small, "progressive.jpg", quality=80, progressive=True)
    jpeg(small.convert("L"), "grey.jpg", quality=80)
    jpeg(small.convert("CMYK"), "cmyk.jpg", quality=80)
    webp_seeds(small)


def webp_seeds(small):
    def webp(image, name, **kwargs):
        buffer = io.BytesIO()
        image.save(buffer, "WEBP", **kwargs)
        write("webp", name, buffer.getvalue()[4:])

    alpha = small.convert("RGBA")
    alpha.putalpha(Image.linear_gradient("L").resize(small.size))
    webp(small, "lossless-rgb.webp", lossless=True)
    webp(alpha, "lossless-rgba.webp", lossless=True, exact=True)
    webp(small, "lossy-rgb.webp", quality=80)
    webp(alpha, "lossy-rgba.webp", quality=80)


def ml5_seeds(shared):
    base = os.path.join(shared, "models", "ml5")
    if not os.path.isdir(base):
        return
    names = sorted(d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d)))
    for name in names[:2]:  # all manifests share one layout; two are plenty
        with open(os.path.join(base, name, "manifest.json"), "rb") as f:
            write("ml5_manifest", name + ".json", f.read())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    args = parser.parse_args()
    model_seeds()
    feature_net_seeds(args.shared)
    image_seeds()
    ml5_seeds(args.shared)
    total = 0
    for dirpath, _, files in os.walk(os.path.join(HERE, "seeds")):
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    print("seeds written: %d bytes in all" % total)


if __name__ == "__main__":
    sys.exit(main())
