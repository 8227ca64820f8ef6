#!/usr/bin/python3
"""Training step against PyTorch: the step `libstyle bench --train` times (src/train/train_bench.c),
built the same way in PyTorch and timed there in fp32 and under torch.autocast("cpu",
dtype=torch.bfloat16) (torch.cpu.amp), beside `libstyle bench --train` itself. Run by hand, not
in CI (issue 17, item 2: "libstyle's best <= 1/3 of PyTorch's best step").

The step, in both (synthetic data, so no decoding or disk is timed):
  * data: a batch of synthetic photos (0..255: colour gradients at a random phase, a checker
    of random period, noise), new every iteration, timed as part of the step as libstyle does;
  * the transform network (pytorch/examples fast_neural_style TransformerNet: reflection
    padding, instance norm, 5 residual blocks, nearest x2 + conv upsampling, linear output;
    widths 32/64/128 full or 16/32/64 half) on the photos, input 0..255;
  * the loss network, forward on the photos (content targets, no gradients) and on the
    outputs, through its deepest loss tap, then backward to the outputs (frozen weights: no
    weight gradients); input normalised as the network says (VGG: /255, ImageNet mean / std);
  * losses per image, averaged over the batch: content 1 x |F - T|^2 / |T|^2, style
    2 x sum over the style taps of |G - G_s|^2 / |G_s|^2 with G = F F^T / (C H W) and G_s the
    Gram matrix of one synthetic style image (computed once), total variation
    50 x (mean of squared vertical + mean of squared horizontal differences) on the image / 255;
  * backward through the transform network (conv1 needs no input gradient) and one Adam step
    (lr 1e-3, betas 0.9 / 0.999, eps 1e-8).
The loss network is, as in libstyle: a VGG-16-shaped network with random weights (torchvision
features.N layout; content relu2_2, style relu1_2 relu2_2 relu3_3 relu4_3, max pooling;
PyTorch's default initialisation, the same distribution libstyle draws from, not the same
numbers), or a feature-network file (--loss-net; docs/formats.md: libstyle.layers / taps /
input / loss metadata, or a torchvision VGG-16/19 state_dict), with its recommended taps.

FLOPs are counted from the convolutions PyTorch runs (forward hooks on one warm-up iteration:
2 x multiply-adds of each forward pass, and of each backward pass autograd runs: input
gradients where the input needs one, weight gradients where the weights train); they must
equal libstyle's nominal count for the same network, which the script checks.

PyTorch runs with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (malloc takes transparent huge
pages), as the issue asks: the script re-executes itself with it. libstyle runs with the
environment the script was started with.

Run:  /usr/bin/python3 tests/bench/train_peers.py --libstyle build/libstyle \\
          --width full --batch 4 --crop 256 --threads 2 --warmup 1 --iterations 3
      (--width half --loss-net ../shared/lossnets/darknet-tiny.safetensors for darknet-tiny)
Tiny check: ... --width half --batch 2 --crop 64 --threads 1 --warmup 1 --iterations 1
"""
import argparse
import csv
import io
import math
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from peers import machine_line, read_safetensors  # noqa: E402 (after the path above)

HUGETLB = "glibc.malloc.hugetlb=1"
ORIGINAL_TUNABLES = "LIBSTYLE_TRAIN_PEERS_ORIGINAL_TUNABLES"
CONTENT_WEIGHT, STYLE_WEIGHT, TV_WEIGHT, LEARNING_RATE = 1.0, 2.0, 50.0, 1e-3


def reexec_with_hugetlb():
    """Re-executes this script with glibc.malloc.hugetlb=1 in GLIBC_TUNABLES (once)."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if HUGETLB in tunables.split(":"):
        return
    env = dict(os.environ)
    env[ORIGINAL_TUNABLES] = tunables if "GLIBC_TUNABLES" in os.environ else "<unset>"
    env["GLIBC_TUNABLES"] = (tunables + ":" if tunables else "") + HUGETLB
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)


def libstyle_environment():
    """The environment the script was started with (before the re-exec's GLIBC_TUNABLES)."""
    env = dict(os.environ)
    original = env.pop(ORIGINAL_TUNABLES, None)
    if original == "<unset>":
        env.pop("GLIBC_TUNABLES", None)
    elif original is not None:
        env["GLIBC_TUNABLES"] = original
    return env


# ---- The machine ------------------------------------------------------------------------------

def cpu_description():
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "unknown CPU":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"]
    return model, " ".join(f"{f} {'yes' if f in flags else 'no'}" for f in wanted)


def transparent_hugepages():
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return f.read().strip()
    except OSError:
        return "unknown"


# ---- The networks -----------------------------------------------------------------------------

def build_transformer(widths, blocks):
    """pytorch/examples fast_neural_style TransformerNet with widths w0/w1/w2 (same tensor names)."""
    import torch.nn as nn
    import torch.nn.functional as F

    class ConvLayer(nn.Module):
        def __init__(self, cin, cout, k, stride):
            super().__init__()
            self.reflection_pad = nn.ReflectionPad2d(k // 2)
            self.conv2d = nn.Conv2d(cin, cout, k, stride)

        def forward(self, x):
            return self.conv2d(self.reflection_pad(x))

    class UpsampleConvLayer(nn.Module):
        def __init__(self, cin, cout, k, upsample):
            super().__init__()
            self.upsample = upsample
            self.reflection_pad = nn.ReflectionPad2d(k // 2)
            self.conv2d = nn.Conv2d(cin, cout, k, 1)

        def forward(self, x):
            if self.upsample:
                x = F.interpolate(x, mode="nearest", scale_factor=self.upsample)
            return self.conv2d(self.reflection_pad(x))

    class ResidualBlock(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = ConvLayer(c, c, 3, 1)
            self.in1 = nn.InstanceNorm2d(c, affine=True)
            self.conv2 = ConvLayer(c, c, 3, 1)
            self.in2 = nn.InstanceNorm2d(c, affine=True)
            self.relu = nn.ReLU()

        def forward(self, x):
            y = self.relu(self.in1(self.conv1(x)))
            return self.in2(self.conv2(y)) + x

    class TransformerNet(nn.Module):
        def __init__(self):
            super().__init__()
            w0, w1, w2 = widths
            self.conv1 = ConvLayer(3, w0, 9, 1)
            self.in1 = nn.InstanceNorm2d(w0, affine=True)
            self.conv2 = ConvLayer(w0, w1, 3, 2)
            self.in2 = nn.InstanceNorm2d(w1, affine=True)
            self.conv3 = ConvLayer(w1, w2, 3, 2)
            self.in3 = nn.InstanceNorm2d(w2, affine=True)
            self.res = nn.Sequential(*[ResidualBlock(w2) for _ in range(blocks)])
            self.deconv1 = UpsampleConvLayer(w2, w1, 3, 2)
            self.in4 = nn.InstanceNorm2d(w1, affine=True)
            self.deconv2 = UpsampleConvLayer(w1, w0, 3, 2)
            self.in5 = nn.InstanceNorm2d(w0, affine=True)
            self.deconv3 = ConvLayer(w0, 3, 9, 1)
            self.relu = nn.ReLU()

        def forward(self, x):
            y = self.relu(self.in1(self.conv1(x)))
            y = self.relu(self.in2(self.conv2(y)))
            y = self.relu(self.in3(self.conv3(y)))
            y = self.res(y)
            y = self.relu(self.in4(self.deconv1(y)))
            y = self.relu(self.in5(self.deconv2(y)))
            return self.deconv3(y)

    return TransformerNet()


VGG16_CONVS = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
VGG19_CONVS = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
VGG16_WIDTHS = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]


def vgg_spec(convs):
    """src/features/feature_net.c recognise_vgg: layers, taps, input, loss taps of a VGG."""
    layers, taps, block, within = [], {}, 1, 0
    for i in range(convs[-1] + 2):
        if i in convs:
            layers.append({"op": "conv", "kernel": 3, "stride": 1, "pad": 1})
        elif i > 0 and layers[i - 1]["op"] == "conv":
            layers.append({"op": "relu"})
            within += 1
            taps[f"relu{block}_{within}"] = i
        else:
            layers.append({"op": "maxpool", "kernel": 2, "stride": 2})
            block, within = block + 1, 0
    vgg16 = len(convs) == 13
    inputs = {"scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    loss = {"content": ["relu2_2" if vgg16 else "relu4_1"],
            "style": ["relu1_2", "relu2_2", "relu3_3", "relu4_3"] if vgg16 else
                     ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]}
    return layers, taps, inputs, loss


def load_loss_net(path):
    """(name, layers, taps, input, loss, tensors) of a feature network: a file, or None for the
    VGG-16-shaped network with random weights that libstyle builds when none is given."""
    import json
    if path is None:
        layers, taps, inputs, loss = vgg_spec(VGG16_CONVS)
        return "vgg16-random", layers, taps, inputs, loss, None
    tensors, meta = read_safetensors(path)
    if meta.get("libstyle.kind") == "feature-net":
        return (meta.get("libstyle.name", os.path.basename(path)), json.loads(meta["libstyle.layers"]),
                json.loads(meta["libstyle.taps"]), json.loads(meta["libstyle.input"]),
                json.loads(meta["libstyle.loss"]), tensors)
    convs = sorted(int(k.split(".")[1]) for k in tensors if k.startswith("features.") and k.endswith(".weight"))
    if convs not in (VGG16_CONVS, VGG19_CONVS):
        raise SystemExit(f"{path}: neither libstyle feature-net metadata nor a torchvision VGG-16/19")
    layers, taps, inputs, loss = vgg_spec(convs)
    return ("vgg16" if len(convs) == 13 else "vgg19"), layers, taps, inputs, loss, tensors


def build_loss_net(spec):
    """The loss network through its deepest loss tap, frozen; forward returns the tap outputs."""
    import torch
    import torch.nn as nn

    name, layers, taps, inputs, loss, tensors = spec
    content = taps[loss["content"][0]]
    style = [taps[t] for t in loss["style"] if t in taps]
    last = max([content] + style)

    class LossNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.content, self.style = content, style
            self.ops = nn.ModuleList()
            channels, k = 3, 0
            for i, layer in enumerate(layers[:last + 1]):
                op = layer["op"]
                if op == "conv":
                    if tensors is None:
                        out = VGG16_WIDTHS[k]
                    else:
                        out = tensors[f"features.{i}.weight"].shape[0]
                    conv = nn.Conv2d(channels, out, layer["kernel"], layer["stride"], layer["pad"],
                                     bias=tensors is None or f"features.{i}.bias" in tensors)
                    if tensors is not None:
                        conv.weight.data = torch.from_numpy(tensors[f"features.{i}.weight"])
                        if conv.bias is not None:
                            conv.bias.data = torch.from_numpy(tensors[f"features.{i}.bias"])
                    self.ops.append(conv)
                    channels, k = out, k + 1
                elif op == "relu":
                    self.ops.append(nn.ReLU(inplace=True))
                elif op == "leaky_relu":
                    self.ops.append(nn.LeakyReLU(layer["slope"], inplace=True))
                elif op == "maxpool":
                    self.ops.append(nn.MaxPool2d(2, 2))
                else:
                    raise SystemExit(f"loss network {name}: unknown op {op}")
            scale = torch.tensor([inputs["scale"] / s for s in inputs["std"]]).view(1, 3, 1, 1)
            shift = torch.tensor([-m / s for m, s in zip(inputs["mean"], inputs["std"])]).view(1, 3, 1, 1)
            self.register_buffer("scale", scale)
            self.register_buffer("shift", shift)

        def forward(self, rgb):
            x = rgb * self.scale + self.shift
            out = {}
            for i, op in enumerate(self.ops):
                x = op(x)
                if i == self.content or i in self.style:
                    out[i] = x
            return out

    net = LossNet()
    for p in net.parameters():
        p.requires_grad_(False)
    return net, name


# ---- The step ---------------------------------------------------------------------------------

def synthetic_photos(generator, n, size):
    """n photos (n x 3 x size x size, 0..255), the kind src/train/train_bench.c makes."""
    import torch
    y = torch.arange(size, dtype=torch.float32).view(1, 1, size, 1)
    x = torch.arange(size, dtype=torch.float32).view(1, 1, 1, size)
    freq = 2 + 6 * torch.rand(n, 1, 1, 1, generator=generator)
    phase = 6.283 * torch.rand(n, 3, 1, 1, generator=generator)
    edge = torch.randint(8, 40, (n, 1, 1, 1), generator=generator)
    c = torch.arange(1, 4, dtype=torch.float32).view(1, 3, 1, 1)
    checker = ((torch.div(x, edge, rounding_mode="floor").long() ^
                torch.div(y, edge, rounding_mode="floor").long()) & 1).float()
    noise = torch.randint(0, 16, (n, 3, size, size), generator=generator).float()
    v = 128 + 80 * torch.sin(freq * (x + c * y) / size + phase) + 30 * checker + noise - 8
    return v.clamp_(0, 255)


def gram(features):
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f.bmm(f.transpose(1, 2)) / (c * h * w)


class Step:
    """One training step of libstyle's train bench in PyTorch, at one precision."""

    def __init__(self, args, precision, memory_format, loss_spec, seed):
        import torch
        self.torch = torch
        self.precision, self.n, self.size = precision, args.batch, args.crop
        torch.manual_seed(seed)
        widths = (32, 64, 128) if args.width == "full" else (16, 32, 64)
        self.transformer = build_transformer(widths, 5)
        self.loss_net, self.loss_name = build_loss_net(loss_spec)
        self.channels_last = memory_format == "channels_last"
        if self.channels_last:
            self.transformer = self.transformer.to(memory_format=torch.channels_last)
            self.loss_net = self.loss_net.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(self.transformer.parameters(), lr=LEARNING_RATE,
                                          betas=(0.9, 0.999), eps=1e-8)
        self.generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():  # style targets: one synthetic style image, fp32
            style_image = self.layout(synthetic_photos(self.generator, 1, self.size))
            feats = self.loss_net(style_image)
            self.style_grams = [gram(feats[i].float()) for i in self.loss_net.style]
            self.style_norm2 = [float((g * g).sum()) for g in self.style_grams]

    def layout(self, x):
        return x.contiguous(memory_format=self.torch.channels_last) if self.channels_last else x

    def autocast(self):
        torch = self.torch
        if self.precision == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)

    def losses(self, photos_feats, out_feats, output):
        per_image = (1, 2, 3)
        c = self.loss_net.content
        f, t = out_feats[c].float(), photos_feats[c].float()
        content = ((f - t) ** 2).sum(per_image) / (t * t).sum(per_image).clamp_min(1e-12)
        loss = CONTENT_WEIGHT * content.mean()
        for i, target, norm2 in zip(self.loss_net.style, self.style_grams, self.style_norm2):
            g = gram(out_feats[i].float()).float()
            loss = loss + STYLE_WEIGHT * ((g - target) ** 2).sum((1, 2)).mean() / max(norm2, 1e-12)
        img = output.float() / 255
        tv = ((img[:, :, 1:, :] - img[:, :, :-1, :]) ** 2).mean() + \
             ((img[:, :, :, 1:] - img[:, :, :, :-1]) ** 2).mean()
        return loss + TV_WEIGHT * tv

    def run(self):
        """One step; returns (seconds per part dict, loss)."""
        torch = self.torch
        cpu0, t0 = time.process_time(), time.perf_counter()
        photos = self.layout(synthetic_photos(self.generator, self.n, self.size))
        t1 = time.perf_counter()
        with self.autocast():
            with torch.no_grad():
                targets = self.loss_net(photos)
            output = self.transformer(photos)
            feats = self.loss_net(output)
            loss = self.losses(targets, feats, output)
        t2 = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        self.optimizer.step()
        t4 = time.perf_counter()
        value = float(loss)
        if not math.isfinite(value):
            raise SystemExit(f"PyTorch {self.precision}: the loss became {value}")
        return {"total": t4 - t0, "cpu": time.process_time() - cpu0, "data": t1 - t0, "forward": t2 - t1, "backward": t3 - t2,
                "optimizer": t4 - t3}, value

    def run_counted(self):
        """One step with hooks on every convolution: FLOPs (2 x multiply-adds) per network and
        pass, and the dtypes the convolutions and norms produced."""
        torch = self.torch
        counts = {"transform": 0.0, "loss": 0.0}
        dtypes = {}

        def conv_hook(net):
            def hook(module, inputs, output):
                x = inputs[0]
                macs = output.numel() * module.in_channels // module.groups * \
                    module.kernel_size[0] * module.kernel_size[1]
                passes = 1
                if torch.is_grad_enabled():
                    passes += x.requires_grad + module.weight.requires_grad
                counts[net] += 2.0 * macs * passes
                dtypes.setdefault(f"{net} network conv output", str(output.dtype).replace("torch.", ""))
            return hook

        def norm_hook(module, inputs, output):
            dtypes.setdefault("instance norm output", str(output.dtype).replace("torch.", ""))

        handles = []
        for net, module in (("transform", self.transformer), ("loss", self.loss_net)):
            for m in module.modules():
                if isinstance(m, torch.nn.Conv2d):
                    handles.append(m.register_forward_hook(conv_hook(net)))
                if isinstance(m, torch.nn.InstanceNorm2d):
                    handles.append(m.register_forward_hook(norm_hook))
        try:
            times, loss = self.run()
        finally:
            for h in handles:
                h.remove()
        return counts, dtypes, loss


def time_pytorch(args, precision, memory_format, loss_spec, log):
    import torch
    step = Step(args, precision, memory_format, loss_spec, seed=1)
    counts, dtypes, loss = step.run_counted()  # the first warm-up iteration
    for _ in range(args.warmup - 1):
        step.run()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    runs = [step.run() for _ in range(args.iterations)]
    share = (time.process_time() - cpu0) / ((time.perf_counter() - wall0) * args.threads)
    totals = [r[0]["total"] for r in runs]
    parts = {k: statistics.median(r[0][k] for r in runs) for k in runs[0][0]}
    label = f"PyTorch {torch.__version__} {precision}" + \
        (" channels_last" if step.channels_last else "")
    log(f"{label}: dtypes inside the step: " + ", ".join(f"{k} {v}" for k, v in dtypes.items()) +
        f"; loss {loss:.4g} (warm-up), {runs[-1][1]:.4g} (last)")
    if precision == "bf16" and "bfloat16" not in dtypes.get("transform network conv output", ""):
        log("  NOTE: autocast did not run the convolutions in bf16")
    log(f"{label}: {statistics.median(totals):.3f} s/iteration (min {min(totals):.3f}); "
        f"forward + losses {parts['forward']:.3f}, backward {parts['backward']:.3f}, "
        f"Adam {parts['optimizer']:.3f}, data {parts['data']:.3f}, CPU {parts['cpu']:.3f} s/iteration "
        f"(medians); cpu share {100 * share:.0f} %")
    return {"peer": "PyTorch " + torch.__version__ + (" channels_last" if step.channels_last else ""),
            "precision": precision + (" (autocast)" if precision == "bf16" else ""),
            "median": statistics.median(totals), "min": min(totals), "cpu": parts["cpu"],
            "counts": counts}


# ---- libstyle ---------------------------------------------------------------------------------

def run_libstyle(args, precision, log):
    """`libstyle bench --train` with the same settings; None when the precision is refused."""
    base = [args.libstyle, "bench", "--train", "--width", args.width, "--batch", str(args.batch),
            "--crop", str(args.crop), "--iterations", str(args.iterations),
            "--warmup", str(args.warmup), "--threads", str(args.threads),
            "--loss-net", args.loss_net or "random", "--csv"]
    cmd = base + ["--precision", precision]
    note = None
    proc = subprocess.run(cmd, capture_output=True, text=True, env=libstyle_environment())
    if proc.returncode != 0 and "precision" in proc.stderr and "unrecognized option" in proc.stderr:
        if precision != "fp32":
            log(f"NOTE: {args.libstyle} does not accept --precision yet ({proc.stderr.strip()}); "
                f"libstyle {precision} not measured")
            return None
        note = "no --precision in this binary: its default path"
        log(f"NOTE: {args.libstyle} does not accept --precision yet; running fp32 without it")
        cmd = base
        proc = subprocess.run(cmd, capture_output=True, text=True, env=libstyle_environment())
    if proc.returncode != 0:
        log(f"libstyle {precision}: failed ({' '.join(cmd)}):\n{proc.stderr.strip()}")
        return None
    rows, columns = {}, {}
    for row in csv.reader(io.StringIO(proc.stdout)):
        if row and row[0] == "columns":
            columns[row[1]] = row[2:]
        elif row and row[0] in columns:
            rows[row[0]] = dict(zip(columns[row[0]], row[1:]))
    train = rows.get("train")
    if not train:
        log(f"libstyle {precision}: no train row in its CSV:\n{proc.stdout}")
        return None
    log(f"libstyle {precision}: `{' '.join(cmd)}`")
    log(f"libstyle {precision}: {float(train['s_per_iteration']):.3f} s/iteration "
        f"(min {float(train['min_s']):.3f}), CPU {float(train.get('cpu_s_per_iteration', 'nan')):.3f} "
        f"s/iteration, cpu share {100 * float(train['cpu_share']):.0f} %; loss network "
        f"{train['loss_net']}; executed {float(train['gflop']):.2f} GFLOP, nominal "
        f"{float(train['nominal_gflop']):.2f} GFLOP")
    return {"peer": "libstyle", "precision": precision + (f" ({note})" if note else ""),
            "median": float(train["s_per_iteration"]), "min": float(train["min_s"]),
            "cpu": float(train.get("cpu_s_per_iteration", "nan")),
            "nominal_gflop": float(train["nominal_gflop"]), "gflop": float(train["gflop"]),
            "loss_net": train["loss_net"]}


# ---- Main -------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--libstyle", default=os.path.join(ROOT, "build", "libstyle"),
                    help="the libstyle tool (default: build/libstyle); 'none': PyTorch only")
    ap.add_argument("--libstyle-precision", default="fp32,bf16",
                    help="libstyle precisions to run (`bench --train --precision P`), comma-separated")
    ap.add_argument("--torch-precision", default="fp32,bf16", help="PyTorch precisions: fp32, bf16 (autocast)")
    ap.add_argument("--memory-format", default="contiguous,channels_last",
                    help="PyTorch activation and weight layouts to run, comma-separated: contiguous "
                    "(NCHW, PyTorch's default), channels_last (NHWC, what oneDNN prefers)")
    ap.add_argument("--width", choices=["full", "half"], default="full",
                    help="transform network widths: full 32/64/128, half 16/32/64")
    ap.add_argument("--loss-net", help="feature-network file (e.g. ../shared/lossnets/darknet-tiny."
                    "safetensors); default: the VGG-16-shaped network with random weights")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, default=256, help="square crop (a multiple of 4)")
    ap.add_argument("--iterations", type=int, default=3, help="timed iterations per peer")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up iterations per peer (at least 1)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.crop % 4 or args.crop < 16 or args.batch < 1 or args.iterations < 1 or args.warmup < 1:
        ap.error("--crop: a multiple of 4 from 16; --batch, --iterations, --warmup: at least 1")
    for p in args.torch_precision.split(","):
        if p not in ("fp32", "bf16"):
            ap.error(f"--torch-precision: fp32 or bf16, not '{p}'")
    for m in args.memory_format.split(","):
        if m not in ("contiguous", "channels_last"):
            ap.error(f"--memory-format: contiguous or channels_last, not '{m}'")
    if args.loss_net:
        args.loss_net = os.path.abspath(args.loss_net)
    if args.libstyle != "none" and not os.access(args.libstyle, os.X_OK):
        ap.error(f"--libstyle: {args.libstyle} is not an executable (build it, or pass 'none')")
    reexec_with_hugetlb()

    import torch
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    lines = []

    def log(s):
        print(s, flush=True)
        lines.append(s)

    model, flags = cpu_description()
    log(f"machine: {machine_line()}")
    log(f"cpu: {model} ({flags})")
    log(f"PyTorch {torch.__version__}, oneDNN (mkldnn) {'on' if torch.backends.mkldnn.is_available() else 'off'}; "
        f"{args.threads} thread(s); GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '')} for PyTorch; "
        f"transparent huge pages: {transparent_hugepages()}")
    loss_spec = load_loss_net(args.loss_net)
    log(f"step: {args.width} width, batch {args.batch} of {args.crop}², loss network {loss_spec[0]} "
        f"(content {loss_spec[4]['content'][0]}, style {', '.join(loss_spec[4]['style'])}), "
        f"{args.warmup} warm-up + {args.iterations} timed iterations each")

    rows = []
    if args.libstyle != "none":
        for p in [p for p in args.libstyle_precision.split(",") if p]:
            r = run_libstyle(args, p, log)
            if r:
                rows.append(r)
    for memory_format in [m for m in args.memory_format.split(",") if m]:
        for p in [p for p in args.torch_precision.split(",") if p]:
            rows.append(time_pytorch(args, p, memory_format, loss_spec, log))

    # FLOPs: PyTorch's count (from the convolutions it ran) against libstyle's nominal one.
    torch_rows = [r for r in rows if "counts" in r]
    counts = torch_rows[0]["counts"]
    total = counts["transform"] + counts["loss"]
    log(f"FLOPs per iteration (2 x multiply-adds) as PyTorch runs the step: {total / 1e9:.2f} GFLOP "
        f"(transform network {counts['transform'] / 1e9:.2f}, loss network {counts['loss'] / 1e9:.2f})")
    ours = [r for r in rows if r["peer"] == "libstyle"]
    if ours:
        nominal = ours[0]["nominal_gflop"]
        # libstyle's CSV gives GFLOP to 3 decimals.
        same = abs(total / 1e9 - nominal) <= 0.0005 + 1e-5 * nominal
        log(f"libstyle: nominal {nominal:.3f} GFLOP (executed {ours[0]['gflop']:.3f}); PyTorch "
            f"{total / 1e9:.3f} GFLOP: " + ("equal (the same step)" if same else
                                            "DIFFERENT -- not the same step, check the networks"))

    best_ours = min((r["median"] for r in ours), default=None)
    best_torch = min((r["median"] for r in torch_rows), default=None)
    print()
    table = ["| peer | precision | s/iteration median | min | CPU s/iteration | median / libstyle best |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['median'] / best_ours:.2f}x" if best_ours else "-"
        table.append(f"| {r['peer']} | {r['precision']} | {r['median']:.3f} | {r['min']:.3f} | {r['cpu']:.3f} | {ratio} |")
    log("\n".join(table))
    if best_ours and best_torch:
        log(f"\nPyTorch's best / libstyle's best (medians): {best_torch / best_ours:.2f}x "
            f"(issue 17 asks for >= 3x)")


if __name__ == "__main__":
    main()
