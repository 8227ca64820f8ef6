"""torchvision VGG-16 / VGG-19 ``state_dict`` files (``.pth``, the zip format of
``torch.save`` and the legacy pickle format of older downloads such as torchvision's
``vgg16-397923af.pth``) to libstyle feature-network files (docs/formats.md section 2).

The output holds the ``features.N`` convolutions under their torchvision names (the classifier
is dropped: the loss network never uses it) and the full feature-net description: the layers,
a tap per ReLU (``relu1_1`` ...), the recommended loss layers libstyle uses for a recognised
VGG (Johnson et al.'s for VGG-16, Huang and Belongie's for VGG-19), and the input
normalisation torchvision's ImageNet weights expect, ``(rgb/255 - [0.485, 0.456, 0.406]) /
[0.229, 0.224, 0.225]``. Reading the pickle needs PyTorch (Debian ``python3-torch``); it is
loaded with ``weights_only=True`` where PyTorch offers it, so a file cannot run code.
"""

from __future__ import annotations

import json
import os
from typing import Dict, Mapping, Tuple

import numpy as np

# Conv indices of torchvision's vgg16().features and vgg19().features.
_VGG_CONVS = {
    "vgg16": (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
    "vgg19": (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34),
}
_WIDTHS = {
    "vgg16": (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512),
    "vgg19": (64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512),
}
# The loss layers libstyle recommends for a recognised VGG (src/features/feature_net.c).
_LOSS = {
    "vgg16": {"content": ["relu2_2"], "style": ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]},
    "vgg19": {"content": ["relu4_1"], "style": ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]},
}
IMAGENET_INPUT = {"scale": 1.0 / 255.0, "mean": [0.485, 0.456, 0.406],
                  "std": [0.229, 0.224, 0.225]}


def _features(state: Mapping[str, object], path: str) -> Dict[int, Tuple[np.ndarray, np.ndarray]]:
    found: Dict[int, list] = {}
    for key, value in state.items():
        name = str(key)
        if name.startswith("module."):
            name = name[len("module."):]
        parts = name.split(".")
        if len(parts) != 3 or parts[0] != "features" or not parts[1].isdigit() or \
                parts[2] not in ("weight", "bias"):
            continue
        if hasattr(value, "detach"):
            value = value.detach().cpu().float().numpy()
        array = np.asarray(value)
        if array.dtype.kind != "f":
            raise ValueError("%s: entry '%s' is not a float tensor" % (path, name))
        slot = found.setdefault(int(parts[1]), [None, None])
        slot[0 if parts[2] == "weight" else 1] = array.astype(np.float32)
    return found  # type: ignore[return-value]


def _identify(features: Mapping[int, list], path: str) -> str:
    indices = tuple(sorted(features))
    for kind, convs in _VGG_CONVS.items():
        if indices != convs:
            continue
        channels = 3
        for index, width in zip(convs, _WIDTHS[kind]):
            weight, bias = features[index]
            if weight is None or bias is None or weight.shape != (width, channels, 3, 3) or \
                    bias.shape != (width,):
                raise ValueError(
                    "%s: features.%d has shape %s, a torchvision %s has [%d, %d, 3, 3] and a "
                    "bias" % (path, index, None if weight is None else list(weight.shape),
                              kind.upper(), width, channels))
            channels = width
        return kind
    raise ValueError(
        "%s: not a torchvision VGG-16 or VGG-19 state_dict (features.N convolutions at %s)"
        % (path, list(indices) if indices else "no index"))


def convert(state: Mapping[str, object], path: str, name: str) -> Tuple[Dict[str, np.ndarray],
                                                                        Dict[str, str]]:
    """The tensors and metadata of the feature-net file for a VGG state_dict."""
    features = _features(state, path)
    kind = _identify(features, path)
    convs = _VGG_CONVS[kind]
    layers, taps = [], {}
    block, within = 1, 0
    for i in range(convs[-1] + 2):  # through the last ReLU
        if i in convs:
            layers.append({"op": "conv", "kernel": 3, "stride": 1, "pad": 1})
        elif layers and layers[-1]["op"] == "conv":
            layers.append({"op": "relu"})
            within += 1
            taps["relu%d_%d" % (block, within)] = i
        else:
            layers.append({"op": "maxpool", "kernel": 2, "stride": 2})
            block, within = block + 1, 0
    tensors: Dict[str, np.ndarray] = {}
    for index in convs:
        tensors["features.%d.weight" % index] = features[index][0]
        tensors["features.%d.bias" % index] = features[index][1]
    metadata = {
        "libstyle.kind": "feature-net",
        "libstyle.name": name or kind,
        "libstyle.layers": json.dumps(layers, separators=(",", ":")),
        "libstyle.taps": json.dumps(taps, separators=(",", ":")),
        "libstyle.input": json.dumps(IMAGENET_INPUT, separators=(",", ":")),
        "libstyle.loss": json.dumps(_LOSS[kind], separators=(",", ":")),
        "libstyle.source": "converted from %s (torchvision %s state_dict, ImageNet mean/std "
                           "input normalisation)" % (os.path.basename(path), kind.upper()),
    }
    return tensors, metadata


def read_lossnet(path: "os.PathLike[str] | str", name: str = "") -> Tuple[Dict[str, np.ndarray],
                                                                          Dict[str, str]]:
    """Tensors and metadata of the feature-net file for a VGG ``.pth`` (either format)."""
    from ._from_pytorch import _state_dict, _torch_load

    path = os.fspath(path)
    return convert(_state_dict(_torch_load(path), path), path, name)
