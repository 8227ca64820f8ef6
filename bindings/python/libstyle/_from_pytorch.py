"""pytorch/examples fast_neural_style checkpoints (``.pth``) to libstyle tensors.

The checkpoint is a pickled ``TransformerNet.state_dict()``; its names are already those of a
libstyle model (docs/formats.md section 1), so the conversion only drops what libstyle does not
use: the ``running_mean``/``running_var``/``num_batches_tracked`` entries that checkpoints
saved by PyTorch < 0.4 carry for every InstanceNorm2d (pytorch/examples deletes them too), and
a ``module.`` prefix left by ``nn.DataParallel``. Reading a pickle needs PyTorch (Debian
``python3-torch``); it is loaded with ``weights_only=True`` where PyTorch offers it, so a
checkpoint cannot run code.
"""

from __future__ import annotations

import os
import re
from typing import Any, Dict, Mapping

import numpy as np

# Legacy InstanceNorm2d buffers: ignored by pytorch/examples (an unanchored regex search).
_LEGACY_NORM_KEY = re.compile(r"in\d+\.(running_(mean|var)|num_batches_tracked)$")


def _torch_load(path: str) -> Any:
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            "reading a .pth checkpoint needs PyTorch (Debian: apt-get install python3-torch)"
        ) from error
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # PyTorch < 1.13 has no weights_only
        return torch.load(path, map_location="cpu")


def _state_dict(checkpoint: Any, path: str) -> Mapping[str, Any]:
    """The state_dict inside what torch.load returned (a bare one, or wrapped in a dict)."""
    if hasattr(checkpoint, "state_dict") and callable(checkpoint.state_dict):
        return checkpoint.state_dict()  # a pickled whole module
    if isinstance(checkpoint, Mapping):
        for key in ("state_dict", "model", "model_state_dict"):
            inner = checkpoint.get(key)
            if isinstance(inner, Mapping) and any(str(k).endswith(".weight") for k in inner):
                return inner
        return checkpoint
    raise ValueError("%s: not a state_dict (a %s)" % (path, type(checkpoint).__name__))


def tensors_from_state_dict(state: Mapping[str, Any], path: str) -> Dict[str, np.ndarray]:
    """The libstyle tensors of a TransformerNet state_dict (torch tensors or numpy arrays)."""
    tensors: Dict[str, np.ndarray] = {}
    for key, value in state.items():
        name = str(key)
        if name.startswith("module."):
            name = name[len("module.") :]
        if _LEGACY_NORM_KEY.search(name):
            continue
        if hasattr(value, "detach"):
            value = value.detach().cpu().float().numpy()
        array = np.asarray(value)
        if array.dtype.kind != "f":
            raise ValueError("%s: entry '%s' is not a float tensor" % (path, name))
        tensors[name] = array.astype(np.float32)
    if "conv1.conv2d.weight" not in tensors:
        raise ValueError(
            "%s: no 'conv1.conv2d.weight': not a pytorch/examples fast_neural_style "
            "TransformerNet checkpoint" % path
        )
    return tensors


def read_checkpoint(path: "os.PathLike[str] | str") -> Dict[str, np.ndarray]:
    """The libstyle tensors of a fast_neural_style ``.pth`` checkpoint."""
    path = os.fspath(path)
    return tensors_from_state_dict(_state_dict(_torch_load(path), path), path)
