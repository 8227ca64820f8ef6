#!/usr/bin/python3
"""Peer comparison: the same transform network with the same weights in libstyle and in
PyTorch (eager, and torch.jit traced + frozen), OpenCV dnn (ONNX export) and ONNX Runtime
(onnxruntime-node, ONNX export), on the same threads. Run by hand, not in CI.

Every engine's output is checked against libstyle fp32 first (pixels 0..255 after the output
head and clamp). Timed runs are interleaved (one run of each engine per round) and each
engine's median is taken, so that a busy machine slows all engines alike; the table shows
ratios (peer median / libstyle median), not only absolute times.

Set up (Debian 12): apt-get install -y python3-torch python3-opencv python3-onnx
                    (cd tests/bench && ONNXRUNTIME_NODE_INSTALL=skip npm install)
Run:                /usr/bin/python3 tests/bench/peers.py --build build --write docs/performance.md
(--write also runs `libstyle bench` and writes the whole page.)
"""
import argparse
import ctypes
import datetime
import json
import os
import platform
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


# ---- The model file --------------------------------------------------------------------------

def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    dtypes = {"F32": np.float32, "F16": np.float16, "F64": np.float64}
    tensors = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        if t["dtype"] == "BF16":
            raw = np.frombuffer(data[a:b], dtype=np.uint16).astype(np.uint32) << 16
            arr = raw.view(np.float32)
        else:
            arr = np.frombuffer(data[a:b], dtype=dtypes[t["dtype"]]).astype(np.float32)
        tensors[name] = arr.reshape(t["shape"]).copy()
    return tensors, meta


def build_torch(tensors, meta, height, width):
    """The network of docs/formats.md in PyTorch, for one input size (static pads)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    padding = meta.get("libstyle.padding", "reflect")
    upsample = meta.get("libstyle.upsample", "nearest_conv")
    norm = meta.get("libstyle.norm", "instance")
    eps = float(meta.get("libstyle.norm_eps", "1e-5"))
    output = meta.get("libstyle.output", "linear")
    final_norm = meta.get("libstyle.final_norm", "none") == "instance"
    blocks = sorted({int(k.split(".")[0][3:]) for k in tensors if k.startswith("res")})

    def param(name):
        return nn.Parameter(torch.from_numpy(tensors[name]), requires_grad=False)

    def tf_same(n, k, s):
        out = (n + s - 1) // s
        total = max((out - 1) * s + k - n, 0)
        return total // 2, total - total // 2

    class Stage(nn.Module):
        def __init__(self, name, norm_name, stride, transposed=False, relu=True):
            super().__init__()
            w = tensors[name + ".conv2d.weight"]
            self.k = w.shape[2]
            self.stride = stride
            self.transposed = transposed
            self.relu = relu
            self.weight = param(name + ".conv2d.weight")
            b = name + ".conv2d.bias"
            self.bias = param(b) if b in tensors else None
            self.norm = None
            if norm_name and norm_name + ".weight" in tensors:
                c = tensors[norm_name + ".weight"].shape[0]
                if norm == "instance":
                    self.norm = nn.InstanceNorm2d(c, eps=eps, affine=True)
                else:
                    self.norm = nn.BatchNorm2d(c, eps=eps)
                    self.norm.running_mean = torch.from_numpy(tensors[norm_name + ".running_mean"])
                    self.norm.running_var = torch.from_numpy(tensors[norm_name + ".running_var"])
                self.norm.weight = param(norm_name + ".weight")
                self.norm.bias = param(norm_name + ".bias")

        def forward(self, x, upsample_nearest=False):
            k = self.k
            if self.transposed:
                h, w = x.shape[2], x.shape[3]
                if upsample == "transposed_tf":
                    y = F.conv_transpose2d(x, self.weight, self.bias, stride=2)
                    c0 = (k - 2) // 2
                    y = y[:, :, c0:c0 + 2 * h, c0:c0 + 2 * w]
                else:
                    y = F.conv_transpose2d(x, self.weight, self.bias, stride=2, padding=k // 2,
                                           output_padding=1)
            else:
                if upsample_nearest:
                    x = F.interpolate(x, scale_factor=2, mode="nearest")
                if padding == "reflect":
                    x = F.pad(x, (k // 2,) * 4, mode="reflect")
                elif padding == "zero":
                    x = F.pad(x, (k // 2,) * 4)
                else:
                    t, b = tf_same(x.shape[2], k, self.stride)
                    l, r = tf_same(x.shape[3], k, self.stride)
                    x = F.pad(x, (l, r, t, b))
                y = F.conv2d(x, self.weight, self.bias, stride=self.stride)
            if self.norm is not None:
                y = self.norm(y)
            if self.relu:
                y = F.relu(y)
            return y

    transposed = upsample != "nearest_conv"

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.down = nn.ModuleList([Stage("conv1", "in1", 1), Stage("conv2", "in2", 2),
                                       Stage("conv3", "in3", 2)])
            self.res = nn.ModuleList()
            for i in blocks:
                self.res.append(nn.ModuleList([Stage(f"res{i}.conv1", f"res{i}.in1", 1),
                                               Stage(f"res{i}.conv2", f"res{i}.in2", 1, relu=False)]))
            self.up = nn.ModuleList([Stage("deconv1", "in4", 1, transposed),
                                     Stage("deconv2", "in5", 1, transposed)])
            self.out = Stage("deconv3", "in6" if final_norm else None, 1, relu=False)

        def forward(self, x):
            for s in self.down:
                x = s(x)
            for a, b in self.res:
                x = x + b(a(x))
            for s in self.up:
                x = s(x, upsample_nearest=not transposed)
            x = self.out(x)
            if output == "tanh150":
                x = 150.0 * torch.tanh(x) + 127.5
            return torch.clamp(x, 0.0, 255.0)

    net = Net().eval()
    if norm != "instance":
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
    return net


# ---- libstyle through ctypes -----------------------------------------------------------------

class StyleImage(ctypes.Structure):
    _fields_ = [("width", ctypes.c_int32), ("height", ctypes.c_int32),
                ("channels", ctypes.c_int32), ("sample_type", ctypes.c_int),
                ("stride", ctypes.c_size_t), ("data", ctypes.c_void_p)]


class Libstyle:
    PRECISIONS = {"fp32": 1, "bf16": 2, "int8": 3}

    def __init__(self, build, model_path, threads):
        self.lib = ctypes.CDLL(os.path.join(build, "libstyle.so"))
        L = self.lib
        L.style_last_error.restype = ctypes.c_char_p
        L.style_precision_supported.argtypes = [ctypes.c_int]
        self.model = ctypes.c_void_p()
        if L.style_model_load(model_path.encode(), None, ctypes.byref(self.model)) != 0:
            raise RuntimeError(L.style_last_error().decode())
        self.threads = threads
        self.sessions = {}

    def supported(self, precision):
        return bool(self.lib.style_precision_supported(self.PRECISIONS[precision]))

    def session(self, precision):
        if precision not in self.sessions:
            s = ctypes.c_void_p()
            L = self.lib
            if (L.style_session_create(self.model, ctypes.byref(s)) != 0 or
                    L.style_session_set_threads(s, self.threads) != 0 or
                    L.style_session_set_precision(s, self.PRECISIONS[precision]) != 0):
                raise RuntimeError(L.style_last_error().decode())
            self.sessions[precision] = s
        return self.sessions[precision]

    def run(self, precision, image_hwc, out_hwc):
        h, w, _ = image_hwc.shape
        src = StyleImage(w, h, 3, 2, 0, image_hwc.ctypes.data)
        dst = StyleImage(w, h, 3, 2, 0, out_hwc.ctypes.data)
        t0 = time.perf_counter()
        if self.lib.style_session_stylize(self.session(precision), ctypes.byref(src),
                                          ctypes.byref(dst)) != 0:
            raise RuntimeError(self.lib.style_last_error().decode())
        return (time.perf_counter() - t0) * 1e3


# ---- Engines ---------------------------------------------------------------------------------

class Engine:
    name = ""

    def run(self):
        """One inference; returns milliseconds."""
        raise NotImplementedError

    def output(self):
        """The last output, H x W x 3 float (0..255)."""
        raise NotImplementedError

    def close(self):
        pass


class Ours(Engine):
    def __init__(self, lib, precision, image):
        self.lib, self.precision, self.image = lib, precision, image
        self.name = "libstyle " + precision
        self.out = np.zeros_like(image)

    def run(self):
        return self.lib.run(self.precision, self.image, self.out)

    def output(self):
        return self.out


class TorchEngine(Engine):
    def __init__(self, net, x, frozen):
        import torch
        self.torch = torch
        self.x = x
        self.name = "PyTorch jit frozen" if frozen else "PyTorch eager"
        if frozen:
            with torch.no_grad():
                self.model = torch.jit.freeze(torch.jit.trace(net, x).eval())
        else:
            self.model = net
        self.y = None

    def run(self):
        with self.torch.inference_mode():
            t0 = time.perf_counter()
            self.y = self.model(self.x)
            return (time.perf_counter() - t0) * 1e3

    def output(self):
        return self.y[0].permute(1, 2, 0).numpy()


class OpenCVEngine(Engine):
    def __init__(self, onnx_path, blob):
        import cv2
        self.net = cv2.dnn.readNetFromONNX(onnx_path)
        self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        self.blob = blob
        self.name = "OpenCV dnn " + cv2.__version__
        self.y = None

    def run(self):
        t0 = time.perf_counter()
        self.net.setInput(self.blob)
        self.y = self.net.forward()
        return (time.perf_counter() - t0) * 1e3

    def output(self):
        return np.transpose(self.y[0], (1, 2, 0))


class OrtEngine(Engine):
    def __init__(self, onnx_path, blob, threads, workdir):
        h, w = blob.shape[2], blob.shape[3]
        self.input = os.path.join(workdir, "input.f32")
        self.out_path = os.path.join(workdir, "ort_out.f32")
        blob.astype(np.float32).tofile(self.input)
        self.shape = (3, h, w)
        self.proc = subprocess.Popen(
            ["node", os.path.join(HERE, "ort_worker.js"), onnx_path, self.input, str(h), str(w),
             str(threads), self.out_path],
            cwd=HERE, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = self.proc.stdout.readline().split()
        if not ready or ready[0] != "ready":
            raise RuntimeError("onnxruntime-node worker did not start (npm install in tests/bench?)")
        self.name = "ONNX Runtime " + ready[1] + " (node)"

    def _ask(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def run(self):
        return float(self._ask("run"))

    def output(self):
        self._ask("save")
        return np.transpose(np.fromfile(self.out_path, dtype=np.float32).reshape(self.shape), (1, 2, 0))

    def close(self):
        self._ask("quit")
        self.proc.wait()


# ---- The comparison --------------------------------------------------------------------------

def load_photo(path, size):
    import cv2
    img = cv2.imread(path, cv2.IMREAD_COLOR)[:, :, ::-1]  # RGB
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA if size < s else cv2.INTER_CUBIC)
    return np.ascontiguousarray(img.astype(np.float32))


def psnr(a, b):
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def compare_size(args, lib, tensors, meta, size, log):
    import torch
    image = load_photo(args.photo, size)
    blob = np.ascontiguousarray(np.transpose(image, (2, 0, 1))[None])
    x = torch.from_numpy(blob)
    net = build_torch(tensors, meta, size, size)
    workdir = tempfile.mkdtemp(prefix="libstyle-peers-")
    onnx_path = os.path.join(workdir, "net.onnx")
    with torch.no_grad():
        torch.onnx.export(net, x, onnx_path, opset_version=args.opset, input_names=["image"],
                          output_names=["styled"])
    engines = [Ours(lib, p, image) for p in args.precisions if lib.supported(p)]
    peers = []
    if "torch" in args.peers:
        peers.append(TorchEngine(net, x, frozen=False))
        peers.append(TorchEngine(net, x, frozen=True))
    if "opencv" in args.peers:
        try:
            peers.append(OpenCVEngine(onnx_path, blob))
        except Exception as e:  # an importer gap is a result too
            log(f"  OpenCV dnn cannot run the ONNX export: {e}")
    if "ort" in args.peers:
        try:
            peers.append(OrtEngine(onnx_path, blob, args.threads, workdir))
        except Exception as e:
            log(f"  ONNX Runtime unavailable: {e}")
    everyone = engines + peers

    # Warm-up (builds, JIT, first-touch) and agreement with libstyle fp32.
    for e in everyone:
        for _ in range(args.warmup):
            e.run()
    reference = engines[0].output().copy()
    agreement = {}
    for e in everyone[1:]:
        out = e.output()
        agreement[e.name] = (float(np.max(np.abs(out - reference))), psnr(out, reference))
        log(f"  {e.name:28s} max |diff| {agreement[e.name][0]:.4f} (0..255), "
            f"PSNR {agreement[e.name][1]:.1f} dB against libstyle fp32")
        if not e.name.startswith("libstyle") and agreement[e.name][0] > args.tolerance:
            raise SystemExit(f"{e.name} disagrees with libstyle fp32 by "
                             f"{agreement[e.name][0]:.4f} at {size}x{size}: not the same network")

    times = {e.name: [] for e in everyone}
    for r in range(args.runs):
        for e in everyone:
            times[e.name].append(e.run())
            time.sleep(0.02)  # let spinning worker threads of the previous engine settle
    for e in peers:
        e.close()
    medians = {k: statistics.median(v) for k, v in times.items()}
    return medians, agreement, [e.name for e in everyone]


def machine_line():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, Linux {platform.release()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="build directory (libstyle.so, libstyle)")
    ap.add_argument("--model", help="model file (default: the ml5 la_muse network imported into the build dir)")
    ap.add_argument("--photo", default=os.path.join(ROOT, "docs", "examples", "city.jpg"))
    ap.add_argument("--sizes", default="512,1024")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precisions", default="fp32,bf16,int8")
    ap.add_argument("--peers", default="torch,opencv,ort")
    ap.add_argument("--opset", type=int, default=10,
                    help="ONNX opset of the export (10: Pad with attribute pads, as OpenCV 4.6 reads it)")
    ap.add_argument("--tolerance", type=float, default=0.5, help="max |diff| (0..255) a peer may show")
    ap.add_argument("--write", help="write a complete docs/performance.md here (also runs libstyle bench)")
    args = ap.parse_args()
    args.precisions = args.precisions.split(",")
    args.peers = args.peers.split(",")
    build = os.path.abspath(args.build)

    if not args.model:
        args.model = os.path.join(build, "la_muse.safetensors")
        if not os.path.exists(args.model):
            src = os.path.join(ROOT, "..", "shared", "models", "ml5", "la_muse")
            subprocess.run([os.path.join(build, "libstyle"), "import-ml5", "--name", "la_muse", src,
                            args.model], check=True)

    import torch
    import cv2
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    cv2.setNumThreads(args.threads)

    lines = []

    def log(s):
        print(s, flush=True)
        lines.append(s)

    tensors, meta = read_safetensors(args.model)
    lib = Libstyle(build, args.model, args.threads)
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        log(f"{size}x{size}:")
        medians, agreement, order = compare_size(args, lib, tensors, meta, size, log)
        rows.append((size, medians, agreement, order))

    # One table: medians and ratios to libstyle fp32 (and to its fastest precision).
    table = ["| engine | size | median ms | peer / libstyle fp32 | peer / libstyle best | max \\|diff\\| vs fp32 (0..255) |",
             "|---|---|---|---|---|---|"]
    for size, med, agr, order in rows:
        ours = med["libstyle fp32"]
        best = min(v for k, v in med.items() if k.startswith("libstyle"))
        for name in order:
            diff = f"{agr[name][0]:.3f} ({agr[name][1]:.1f} dB)" if name in agr else "reference"
            table.append(f"| {name} | {size}² | {med[name]:.1f} | {med[name] / ours:.2f}× | "
                         f"{med[name] / best:.2f}× | {diff} |")
    print("\n".join(table))
    if args.write:
        write_doc(args, build, table, lines)


def precision_quality(build):
    """PSNR of bf16 / int8 against fp32 on the nine ml5 models (tests/test_precision)."""
    exe = os.path.join(build, "tests", "test_precision")
    if not os.path.exists(exe):
        return "(tests/test_precision not built)"
    out = subprocess.run([exe], capture_output=True, text=True).stdout
    rows = [l.strip() for l in out.splitlines() if "worst PSNR" in l]
    return "\n".join(rows) if rows else out.strip()


GENERATED_END = "<!-- end of the part peers.py writes; what follows is kept -->\n"


def write_doc(args, build, peer_table, peer_log):
    bench = subprocess.run([os.path.join(build, "libstyle"), "bench", "--model", args.model,
                            "--sizes", "256,512,1024", "--runs", str(max(args.runs, 10)),
                            "--threads", str(args.threads)],
                           check=True, capture_output=True, text=True).stdout
    quality = precision_quality(build)
    doc = f"""# Performance

Generated by `/usr/bin/python3 tests/bench/peers.py --build {os.path.relpath(build, ROOT)} --write docs/performance.md`
on {datetime.date.today().isoformat()}: {machine_line()}; {args.threads} threads, batch 1, the
ml5 `la_muse` network (32/64/128 widths, 5 residual blocks, TF-SAME padding, transposed-conv
upsampling). GFLOP counts 2 x the multiply-adds the kernels execute (`nominal`: the network as
written); every share of a peak names the peak (see "The peaks `libstyle bench` measures" below).

The machine is shared: the `cpu` column of `libstyle bench` is the share of {args.threads} CPUs the
process got while timing (below 100 % means other jobs ran), and the peak is measured again after
the runs. Ratios between engines come from interleaved runs and are the numbers to trust.

## libstyle bench

```
{bench.strip()}
```

## Peers (same weights, same photo, outputs checked against libstyle fp32)

Median of {args.runs} interleaved runs after {args.warmup} warm-up runs each; ratios are peer
median / libstyle median (above 1: libstyle is faster).

{chr(10).join(peer_table)}

```
{chr(10).join(peer_log)}
```

## Precision and image quality

PSNR of the 8-bit stylized image against fp32, worst of four photos (centre 384x384 crops)
per ml5 model (`build/tests/test_precision`; targets: bf16 >= 40 dB, int8 >= 35 dB):

```
{quality}
```

int8 keeps some convolutions in bf16, because 8-bit activations with one step per tensor are
too coarse for them. Measured one layer at a time in int8 (the rest fp32) on `matilde_perez`,
the hardest model: conv2 32.9 dB, conv3 32.6 dB, the residual blocks' first convs (they read
the residual stream, whose heavy-tailed range leaves few steps for most values) 32.5-40.6 dB,
res1.conv2 37.0 dB; every other layer 41.8-49.8 dB. With all of them in int8 the worst image
is at 26 dB (matilde_perez), 28 dB (mathura). Clipping the range (a percentile instead of the
maximum) is worse still (9-21 dB): these networks rely on their rare large activations.
Per-channel steps measured per image would recover about 6 dB per layer (simulated), which is
not enough to move those layers to int8 either. So int8 runs conv1, the residual blocks'
second convs (but the first block's) and the upsampling convs in int8 (u8/s8 activations with
a step measured on each image and a relative step per channel from the norms' parameters,
s8 weights per output channel), and the rest in bf16.

## How

* Convolutions: oneDNN 2.6 `brgconv` on NHWC activations with weights reordered once per
  build; no reorders between layers (`ONEDNN_VERBOSE=1` shows only convolutions per run).
* Stride-2 transposed convolutions (and nearest x2 + 3x3 conv) run as four sub-pixel phase
  convolutions at the input resolution: the same multiply-adds as the transposed conv (2.25x
  fewer for nearest + conv), as regular stride-1 convs that brgconv runs at full speed, where
  oneDNN's deconvolution runs at ~45 %.
* The 9x9 32 -> 3 output convolution uses our own AVX-512 kernel (`src/dnn/direct_conv.c`),
  vectorised over input channels: oneDNN computes 3 output channels at the cost of 16.
* Instance norm, ReLU, the residual add, reflection / zero padding of the next conv's input,
  the phase interleave and the conversion to bf16 / int8 are one fused pass (statistics, then
  apply) of our own (`src/dnn/norm_layer.c`).
* Activation buffers are allocated and touched once per build (transparent huge pages), so
  steady-state runs allocate nothing and take no page faults. Builds are cached per size.

""" + GENERATED_END
    # Sections written by hand after the generated part (training, one-shot latency, ...)
    # survive a regeneration.
    kept = ""
    if os.path.exists(args.write):
        with open(args.write) as f:
            old = f.read()
        if GENERATED_END in old:
            kept = old.split(GENERATED_END, 1)[1]
    with open(args.write, "w") as f:
        f.write(doc + kept)
    print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
