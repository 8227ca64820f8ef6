"""libstyle models to ONNX graphs in the onnx/models zoo's fast-neural-style layout.

The graph has one input ``input1`` and one output ``output1``, NCHW float RGB in 0..255 with
symbolic height and width, like the zoo's mosaic-9.onnx; as there, the output is *not* clamped
(clamp it to 0..255 when converting to pixels, as libstyle does). Height and width must be
multiples of 4 (libstyle pads other sizes itself; an ONNX runtime will not). Opset 9 (the
zoo's: Pad attributes, Upsample) or 11 and later (Pad inputs, Resize).

Every variant of docs/formats.md section 1 is written: reflect/zero/tf_same padding (tf_same
as constant pads, exact for sizes that are multiples of 4), nearest_conv or transposed
upsampling (ConvTranspose with the format's crop as pads), instance norm or batch norm
(folded into the convolution), tanh150 output and the final instance norm.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional

import numpy as np

# The free-text keys that an export keeps (as ONNX metadata_props) and an import restores.
CARRIED_METADATA = ("libstyle.name", "libstyle.license", "libstyle.source",
                    "libstyle.description")

DEFAULTS = {
    "libstyle.padding": "reflect",
    "libstyle.upsample": "nearest_conv",
    "libstyle.norm": "instance",
    "libstyle.norm_eps": "1e-5",
    "libstyle.output": "linear",
    "libstyle.final_norm": "none",
}


class _Builder:
    def __init__(self, opset: int) -> None:
        import onnx
        from onnx import helper, numpy_helper

        self.onnx, self.helper, self.numpy_helper = onnx, helper, numpy_helper
        self.opset = opset
        self.nodes: List[Any] = []
        self.initializers: List[Any] = []
        self.count = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return "%s_%d" % (hint, self.count)

    def const(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: List[str], hint: str, **attrs: Any) -> str:
        out = self.name(hint)
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def pad(self, x: str, pads: List[int], mode: str, hint: str) -> str:
        if not any(pads):
            return x
        full = [0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]]  # begins (N,C,H,W), ends
        if self.opset < 11:
            return self.node("Pad", [x], hint, mode=mode, pads=full)
        return self.node("Pad", [x, self.const(hint + ".pads", np.array(full, np.int64))],
                         hint, mode=mode)

    def slice(self, x: str, starts: List[int], ends: List[int], axes: List[int],
              hint: str) -> str:
        if self.opset < 10:
            return self.node("Slice", [x], hint, starts=starts, ends=ends, axes=axes)
        arrays = [np.array(v, np.int64) for v in (starts, ends, axes)]
        names = [self.const("%s.%s" % (hint, n), a) for n, a in zip(("starts", "ends", "axes"),
                                                                      arrays)]
        return self.node("Slice", [x] + names, hint)

    def upsample(self, x: str, hint: str) -> str:
        scales = np.array([1, 1, 2, 2], np.float32)
        if self.opset < 10:
            return self.node("Upsample", [x, self.const(hint + ".scales", scales)], hint,
                             mode="nearest")
        roi = self.const(hint + ".roi", np.zeros(0, np.float32))
        return self.node("Resize", [x, roi, self.const(hint + ".scales", scales)], hint,
                         mode="nearest", coordinate_transformation_mode="asymmetric",
                         nearest_mode="floor")


def _tf_same(k: int, stride: int) -> List[int]:
    """TensorFlow SAME pads (top, left, bottom, right) for an even size (multiples of 4)."""
    total = max(k - stride, 0)
    return [total // 2, total // 2, total - total // 2, total - total // 2]


def build_graph(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str],
                opset: int = 9, name: str = "libstyle") -> Any:
    """The ONNX ModelProto of a model's tensors and metadata."""
    meta = dict(DEFAULTS)
    meta.update({k: v for k, v in metadata.items() if k in DEFAULTS})
    arch = metadata.get("libstyle.arch", "johnson")
    if arch != "johnson":
        raise ValueError("only libstyle.arch=johnson models can be exported, not %s" % arch)
    if opset < 9:
        raise ValueError("opset %d is too old; 9 or later" % opset)
    b = _Builder(opset)
    eps = float(meta["libstyle.norm_eps"])
    padding = meta["libstyle.padding"]
    upsample_mode = meta["libstyle.upsample"]
    batch_norm = meta["libstyle.norm"] == "batch"

    def folded(conv: str, norm: Optional[str]):
        weight = tensors[conv + ".conv2d.weight"].astype(np.float32)
        transposed = upsample_mode != "nearest_conv" and conv in ("deconv1", "deconv2")
        out_axis = 1 if transposed else 0
        channels = weight.shape[out_axis]
        bias = tensors.get(conv + ".conv2d.bias", np.zeros(channels, np.float32)).astype(np.float32)
        if batch_norm and norm is not None:
            scale = tensors[norm + ".weight"] / np.sqrt(tensors[norm + ".running_var"] + eps)
            shape = [1, -1, 1, 1] if transposed else [-1, 1, 1, 1]
            weight = weight * scale.reshape(shape)
            bias = (bias - tensors[norm + ".running_mean"]) * scale + tensors[norm + ".bias"]
        return weight.astype(np.float32), bias.astype(np.float32), transposed

    def stage(x: str, conv: str, norm: Optional[str], stride: int, relu: bool,
              upsample: bool = False) -> str:
        weight, bias, transposed = folded(conv, norm)
        k = weight.shape[2]
        w = b.const(conv + ".conv2d.weight", weight)
        bb = b.const(conv + ".conv2d.bias", bias)
        if transposed:
            # The full transposed convolution has 2H+k-2 rows; transposed_torch keeps
            # [1, 2H+1) and transposed_tf [0, 2H) (docs/formats.md). Written as PyTorch exports
            # ConvTranspose2d (symmetric pads + output_padding), and for tf as the full
            # result cropped by a Slice: runtimes such as OpenCV refuse asymmetric pads.
            if upsample_mode == "transposed_torch":
                x = b.node("ConvTranspose", [x, w, bb], conv, kernel_shape=[k, k],
                           strides=[2, 2], pads=[1, 1, k - 3 + 1, k - 3 + 1],
                           output_padding=[1, 1])
            else:
                x = b.node("ConvTranspose", [x, w, bb], conv, kernel_shape=[k, k],
                           strides=[2, 2], pads=[0, 0, 0, 0])
                x = b.slice(x, [0, 0], [2 - k, 2 - k], [2, 3], conv + ".crop")
        else:
            if upsample:
                x = b.upsample(x, conv + ".upsample")
            if padding == "tf_same":
                pads, mode = _tf_same(k, stride), "constant"
            else:
                pads, mode = [k // 2] * 4, ("reflect" if padding == "reflect" else "constant")
            x = b.pad(x, pads, mode, conv + ".pad")
            x = b.node("Conv", [x, w, bb], conv, kernel_shape=[k, k], strides=[stride, stride],
                       pads=[0, 0, 0, 0])
        if norm is not None and not batch_norm:
            x = b.node("InstanceNormalization",
                       [x, b.const(norm + ".weight", tensors[norm + ".weight"].astype(np.float32)),
                        b.const(norm + ".bias", tensors[norm + ".bias"].astype(np.float32))],
                       norm, epsilon=eps)
        if relu:
            x = b.node("Relu", [x], conv + ".relu")
        return x

    blocks = sorted({int(k.split(".")[0][3:]) for k in tensors if k.startswith("res")})
    x = stage("input1", "conv1", "in1", 1, True)
    x = stage(x, "conv2", "in2", 2, True)
    x = stage(x, "conv3", "in3", 2, True)
    for i in blocks:
        y = stage(x, "res%d.conv1" % i, "res%d.in1" % i, 1, True)
        y = stage(y, "res%d.conv2" % i, "res%d.in2" % i, 1, False)
        x = b.node("Add", [y, x], "res%d.add" % i)
    x = stage(x, "deconv1", "in4", 1, True, upsample=True)
    x = stage(x, "deconv2", "in5", 1, True, upsample=True)
    final_norm = "in6" if meta["libstyle.final_norm"] == "instance" else None
    if final_norm is not None and batch_norm:
        raise ValueError("final_norm=instance with norm=batch is not a libstyle model")
    x = stage(x, "deconv3", final_norm, 1, False)
    if meta["libstyle.output"] == "tanh150":
        x = b.node("Tanh", [x], "output.tanh")
        x = b.node("Mul", [x, b.const("output.150", np.array(150.0, np.float32))], "output.mul")
        x = b.node("Add", [x, b.const("output.127.5", np.array(127.5, np.float32))], "output.add")
    b.nodes.append(b.helper.make_node("Identity", [x], ["output1"], name="output1"))

    shape = [1, 3, "height", "width"]
    float_type = b.onnx.TensorProto.FLOAT
    graph = b.helper.make_graph(
        b.nodes, name,
        [b.helper.make_tensor_value_info("input1", float_type, shape)],
        [b.helper.make_tensor_value_info("output1", float_type, shape)],
        b.initializers)
    model = b.helper.make_model(graph, producer_name="libstyle",
                                opset_imports=[b.helper.make_opsetid("", opset)])
    # onnx 1.12 stamps IR version 8, which OpenCV 4.6 and older runtimes refuse; opsets up to
    # 13 are valid in IR 7.
    if opset <= 13:
        model.ir_version = min(model.ir_version, 7)
    doc = ["RGB in 0..255 (NCHW float); height and width multiples of 4; clamp the output "
           "to 0..255."]
    model.doc_string = "\n".join(doc)
    # Provenance travels in the graph's metadata_props; from_onnx reads it back.
    for key in CARRIED_METADATA:
        if key in metadata:
            entry = model.metadata_props.add()
            entry.key, entry.value = key, metadata[key]
    b.onnx.checker.check_model(model)
    return model
