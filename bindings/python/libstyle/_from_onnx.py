"""ONNX fast-neural-style graphs (the onnx/models zoo layout) to libstyle tensors.

The zoo's validated/style_transfer/fast_neural_style models (mosaic-9.onnx, candy-9.onnx, ...)
are pytorch/examples TransformerNets exported by ``torch.onnx.export``: input and output are
NCHW RGB floats in 0..255, every convolution is preceded by a reflect ``Pad``, the norms are
``InstanceNormalization`` and the upsampling is ``Upsample`` (opset 9) or ``Resize`` (opset 11+)
nearest x2 before a stride-1 convolution. Initializer names vary between exporters, so the
graph is read by structure, not by name: the operators on the path from the input are matched
against the network of docs/formats.md section 1, and the weights are taken in that order.
Constant sub-graphs (pads and scales computed by Constant/Concat/Reshape/Slice/Cast chains, as
recent PyTorch exports make them) are folded with numpy. Needs the ``onnx`` package (Debian
``python3-onnx``).
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np


class _Graph:
    """Constant folding and the data-path walk over one ONNX graph."""

    def __init__(self, model: Any, path: str) -> None:
        from onnx import numpy_helper

        self.path = path
        self.helper = numpy_helper
        self.graph = model.graph
        self.constants: Dict[str, np.ndarray] = {
            init.name: numpy_helper.to_array(init) for init in self.graph.initializer
        }
        inputs = [i.name for i in self.graph.input if i.name not in self.constants]
        if len(inputs) != 1:
            self.fail("expected one image input, found %d (%s)" % (len(inputs), inputs))
        self.input = inputs[0]

    def fail(self, message: str) -> None:
        raise ValueError("%s: %s" % (self.path, message))

    @staticmethod
    def attributes(node: Any) -> Dict[str, Any]:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def constant(self, name: str, what: str) -> np.ndarray:
        if name not in self.constants:
            self.fail("%s ('%s') is not a constant" % (what, name))
        return self.constants[name]

    def fold(self, node: Any) -> bool:
        """Evaluates a node whose inputs are all constants; False when it cannot."""
        op = node.op_type
        args = [self.constants.get(n) if n else None for n in node.input]
        if any(a is None for n, a in zip(node.input, args) if n):
            return False
        attrs = self.attributes(node)
        if op == "Constant":
            value = self.helper.to_array(attrs["value"])
        elif op == "Identity":
            value = args[0]
        elif op == "Cast":
            from onnx import mapping

            value = args[0].astype(mapping.TENSOR_TYPE_TO_NP_TYPE[attrs["to"]])
        elif op == "ConstantOfShape":
            fill = self.helper.to_array(attrs["value"]) if "value" in attrs else np.zeros(1, np.float32)
            value = np.full(tuple(int(d) for d in args[0]), fill.reshape(-1)[0], fill.dtype)
        elif op == "Concat":
            value = np.concatenate(args, axis=attrs.get("axis", 0))
        elif op == "Reshape":
            shape = [int(d) for d in args[1]]
            shape = [args[0].shape[i] if d == 0 else d for i, d in enumerate(shape)]
            value = args[0].reshape(shape)
        elif op == "Transpose":
            value = np.transpose(args[0], attrs.get("perm"))
        elif op == "Slice":
            value = self._slice(args, attrs)
        elif op == "Unsqueeze":
            axes = attrs.get("axes", list(args[1]) if len(args) > 1 else [])
            value = args[0]
            for axis in sorted(int(a) for a in axes):
                value = np.expand_dims(value, axis)
        elif op == "Squeeze":
            axes = attrs.get("axes", list(args[1]) if len(args) > 1 else None)
            value = np.squeeze(args[0], axis=tuple(int(a) for a in axes) if axes else None)
        elif op == "Gather":
            value = np.take(args[0], args[1], axis=attrs.get("axis", 0))
        elif op in ("Add", "Sub", "Mul", "Div"):
            function = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}
            value = function[op](args[0], args[1])
            if op == "Div" and np.issubdtype(args[0].dtype, np.integer):
                value = np.floor_divide(args[0], args[1])
        else:
            return False
        self.constants[node.output[0]] = np.asarray(value)
        return True

    @staticmethod
    def _slice(args: List[Any], attrs: Dict[str, Any]) -> np.ndarray:
        data = args[0]
        if len(args) > 1:  # opset 10+: starts, ends, axes, steps as inputs
            starts, ends = args[1], args[2]
            axes = args[3] if len(args) > 3 and args[3] is not None else range(len(starts))
            steps = args[4] if len(args) > 4 and args[4] is not None else [1] * len(starts)
        else:
            starts, ends = attrs["starts"], attrs["ends"]
            axes = attrs.get("axes", range(len(starts)))
            steps = [1] * len(starts)
        index = [slice(None)] * data.ndim
        for start, end, axis, step in zip(starts, ends, axes, steps):
            end = int(end)
            if abs(end) >= np.iinfo(np.int64).max // 2:  # INT64_MAX / INT64_MIN: to the edge
                end = None
            index[int(axis)] = slice(int(start), end, int(step))
        return data[tuple(index)]


def _walk(graph: _Graph) -> Tuple[List[Tuple[str, Any]], str]:
    """The data-path operators as (kind, details) tokens, and the output tensor's name."""
    data = {graph.input}
    tokens: List[Tuple[str, Any]] = []
    producer: Dict[str, int] = {graph.input: -1}  # tensor -> index of the token that made it
    last = graph.input
    for node in graph.graph.node:
        on_path = [n for n in node.input if n in data]
        if not on_path:
            if not graph.fold(node):
                graph.fail("cannot evaluate %s node '%s' (not on the image path)"
                           % (node.op_type, node.name))
            continue
        op = node.op_type
        attrs = graph.attributes(node)
        out = node.output[0]
        if op == "Shape":
            continue  # its output is a shape, not an image; whatever uses it cannot fold
        if op == "Pad":
            pads = attrs.get("pads")
            if pads is None:
                pads = graph.constant(node.input[1], "Pad's pads")
            mode = attrs.get("mode", b"constant")
            mode = mode.decode() if isinstance(mode, bytes) else mode
            if mode == "constant" and len(node.input) > 2 and node.input[2]:
                value = graph.constant(node.input[2], "Pad's value")
                if np.any(value != 0):
                    graph.fail("Pad '%s' pads with %s, not zero or reflection" % (node.name, value))
            if mode == "constant" and attrs.get("value", 0.0) != 0.0:
                graph.fail("Pad '%s' pads with %s, not zero" % (node.name, attrs["value"]))
            tokens.append(("pad", (mode, [int(p) for p in np.asarray(pads).reshape(-1)])))
        elif op == "Conv":
            weight = graph.constant(node.input[1], "Conv weight")
            bias = graph.constant(node.input[2], "Conv bias") if len(node.input) > 2 and node.input[2] else None
            if attrs.get("group", 1) != 1 or any(d != 1 for d in attrs.get("dilations", [1, 1])):
                graph.fail("Conv '%s' is grouped or dilated" % node.name)
            strides = list(attrs.get("strides", [1, 1]))
            if strides[0] != strides[1]:
                graph.fail("Conv '%s' has unequal strides %s" % (node.name, strides))
            pads = [int(p) for p in attrs.get("pads", [0, 0, 0, 0])]
            if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                graph.fail("Conv '%s' uses auto_pad" % node.name)
            tokens.append(("conv", {"weight": weight, "bias": bias, "stride": strides[0],
                                    "pads": pads, "name": node.name}))
        elif op == "InstanceNormalization":
            tokens.append(("norm", {"scale": graph.constant(node.input[1], "norm scale"),
                                    "bias": graph.constant(node.input[2], "norm bias"),
                                    "eps": float(attrs.get("epsilon", 1e-5))}))
        elif op == "Relu":
            tokens.append(("relu", None))
        elif op == "Add":
            if len(on_path) != 2:
                graph.fail("Add '%s' adds a constant to the image" % node.name)
            other = node.input[1] if node.input[0] == last else node.input[0]
            tokens.append(("add", producer.get(other)))
        elif op in ("Upsample", "Resize"):
            mode = attrs.get("mode", b"nearest")
            mode = mode.decode() if isinstance(mode, bytes) else mode
            if mode != "nearest":
                graph.fail("%s '%s' uses mode %s, not nearest" % (op, node.name, mode))
            scales = attrs.get("scales")
            if scales is None:
                index = 1 if op == "Upsample" else 2
                if len(node.input) <= index or not node.input[index]:
                    graph.fail("%s '%s' gives sizes, not scales" % (op, node.name))
                scales = graph.constant(node.input[index], op + " scales")
            if [float(s) for s in np.asarray(scales).reshape(-1)] != [1.0, 1.0, 2.0, 2.0]:
                graph.fail("%s '%s' scales by %s, not 2" % (op, node.name, list(scales)))
            tokens.append(("upsample", None))
        elif op == "Clip":
            low = attrs.get("min")
            high = attrs.get("max")
            if len(node.input) > 1 and node.input[1]:
                low = float(graph.constant(node.input[1], "Clip min"))
            if len(node.input) > 2 and node.input[2]:
                high = float(graph.constant(node.input[2], "Clip max"))
            if low != 0.0 or high != 255.0:
                graph.fail("Clip '%s' clamps to [%s, %s], not [0, 255]" % (node.name, low, high))
            tokens.append(("clip", None))
        elif op == "Identity":
            pass
        else:
            graph.fail("unexpected %s node '%s' on the image path (a fast-neural-style graph "
                       "has Pad, Conv, InstanceNormalization, Relu, Add, Upsample/Resize)"
                       % (op, node.name))
        for name in node.output:
            data.add(name)
            producer[name] = len(tokens) - 1
        last = out
    outputs = [o.name for o in graph.graph.output]
    if len(outputs) != 1 or outputs[0] != last:
        graph.fail("the graph's output %s is not the end of the image path" % outputs)
    return tokens, last


class _Tokens:
    """The token list with a cursor, for matching the network's layers in order."""

    def __init__(self, graph: _Graph, tokens: List[Tuple[str, Any]]) -> None:
        self.graph = graph
        self.tokens = tokens
        self.at = 0

    def peek(self) -> Optional[str]:
        return self.tokens[self.at][0] if self.at < len(self.tokens) else None

    def take(self, kind: str, where: str) -> Any:
        found = self.peek()
        if found != kind:
            self.graph.fail("%s: expected %s, found %s" % (where, kind, found or "the end"))
        self.at += 1
        return self.tokens[self.at - 1][1]


def _conv(stream: _Tokens, where: str, stride: int, paddings: List[str]) -> Dict[str, Any]:
    """One [Pad] Conv; records the padding kind ('reflect' or 'zero') in `paddings`."""
    pad = stream.take("pad", where) if stream.peek() == "pad" else None
    conv = stream.take("conv", where)
    k = conv["weight"].shape[2]
    if conv["weight"].shape[3] != k or k % 2 == 0:
        stream.graph.fail("%s: kernel %s is not square and odd" % (where, conv["weight"].shape[2:]))
    if conv["stride"] != stride:
        stream.graph.fail("%s: stride %d, expected %d" % (where, conv["stride"], stride))
    half = k // 2
    if pad is not None:
        mode, pads = pad
        if pads != [0, 0, half, half, 0, 0, half, half] or any(conv["pads"]):
            stream.graph.fail("%s: padding %s + %s is not %d on every side"
                              % (where, pads, conv["pads"], half))
        paddings.append("reflect" if mode == "reflect" else "zero")
    else:
        if conv["pads"] != [half] * 4:
            stream.graph.fail("%s: padding %s is not %d on every side" % (where, conv["pads"], half))
        paddings.append("zero")
    return conv


def read_graph(path: "os.PathLike[str] | str") -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """The libstyle tensors and metadata (padding, norm_eps, and the libstyle.name etc. that
    a libstyle export stored in metadata_props) of a fast-neural-style graph."""
    try:
        import onnx
    except ImportError as error:
        raise ImportError(
            "reading an ONNX graph needs the onnx package (Debian: apt-get install python3-onnx)"
        ) from error
    path = os.fspath(path)
    model = onnx.load(path)
    graph = _Graph(model, path)
    tokens, _ = _walk(graph)
    stream = _Tokens(graph, tokens)
    tensors: Dict[str, np.ndarray] = {}
    paddings: List[str] = []
    epsilons: List[float] = []

    def layer(conv_name: str, norm_name: Optional[str], stride: int, relu: bool,
              upsample: bool = False) -> None:
        if upsample:
            stream.take("upsample", conv_name)
        conv = _conv(stream, conv_name, stride, paddings)
        tensors[conv_name + ".conv2d.weight"] = conv["weight"].astype(np.float32)
        if conv["bias"] is not None:
            tensors[conv_name + ".conv2d.bias"] = conv["bias"].astype(np.float32)
        if norm_name is not None:
            norm = stream.take("norm", norm_name)
            tensors[norm_name + ".weight"] = norm["scale"].astype(np.float32)
            tensors[norm_name + ".bias"] = norm["bias"].astype(np.float32)
            epsilons.append(norm["eps"])
        if relu:
            stream.take("relu", conv_name)

    layer("conv1", "in1", 1, True)
    layer("conv2", "in2", 2, True)
    layer("conv3", "in3", 2, True)
    block = 0
    while stream.peek() in ("pad", "conv"):
        block += 1
        start = stream.at - 1  # the token whose output enters the block
        layer("res%d.conv1" % block, "res%d.in1" % block, 1, True)
        layer("res%d.conv2" % block, "res%d.in2" % block, 1, False)
        skip = stream.take("add", "res%d" % block)
        if skip != start:
            graph.fail("res%d: the Add does not add the block's input" % block)
    if block == 0:
        graph.fail("no residual blocks found after conv3")
    layer("deconv1", "in4", 1, True, upsample=True)
    layer("deconv2", "in5", 1, True, upsample=True)
    layer("deconv3", None, 1, False)
    if stream.peek() == "clip":
        stream.take("clip", "output")
    if stream.peek() is not None:
        graph.fail("unexpected %s after deconv3" % stream.peek())
    if len(set(paddings)) != 1:
        graph.fail("mixed reflection and zero padding")
    if max(epsilons) - min(epsilons) > 1e-12:
        graph.fail("the instance norms use different epsilons %s" % sorted(set(epsilons)))
    # The shortest decimal that reads back as the same float32 ("1e-05", not 9.9999997e-06).
    metadata = {"libstyle.padding": paddings[0], "libstyle.norm_eps": str(np.float32(epsilons[0]))}
    # What a libstyle export carried along (the model's name, licence, ...).
    from ._to_onnx import CARRIED_METADATA

    for entry in model.metadata_props:
        if entry.key in CARRIED_METADATA:
            metadata[entry.key] = entry.value
    return tensors, metadata
