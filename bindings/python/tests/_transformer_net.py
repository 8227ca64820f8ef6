"""pytorch/examples fast_neural_style's TransformerNet (neural_style/transformer_net.py), with
the channel widths and the number of residual blocks as parameters so the tests stay fast.
The module and parameter names are the original's: its state_dict is a real checkpoint."""

from __future__ import annotations

import torch


class ConvLayer(torch.nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int):
        super().__init__()
        self.reflection_pad = torch.nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        return self.conv2d(self.reflection_pad(x))


class ResidualBlock(torch.nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in1 = torch.nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in2 = torch.nn.InstanceNorm2d(channels, affine=True)
        self.relu = torch.nn.ReLU()

    def forward(self, x):
        residual = x
        out = self.relu(self.in1(self.conv1(x)))
        out = self.in2(self.conv2(out))
        return out + residual


class UpsampleConvLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, upsample=None,
                 mode="nearest"):
        super().__init__()
        self.upsample = upsample
        self.mode = mode
        self.reflection_pad = torch.nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        if self.upsample:
            x = torch.nn.functional.interpolate(x, mode=self.mode, scale_factor=self.upsample)
        return self.conv2d(self.reflection_pad(x))


class TransformerNet(torch.nn.Module):
    def __init__(self, widths=(32, 64, 128), blocks=5, upsample_mode="nearest"):
        super().__init__()
        a, b, c = widths
        self.conv1 = ConvLayer(3, a, kernel_size=9, stride=1)
        self.in1 = torch.nn.InstanceNorm2d(a, affine=True)
        self.conv2 = ConvLayer(a, b, kernel_size=3, stride=2)
        self.in2 = torch.nn.InstanceNorm2d(b, affine=True)
        self.conv3 = ConvLayer(b, c, kernel_size=3, stride=2)
        self.in3 = torch.nn.InstanceNorm2d(c, affine=True)
        for i in range(1, blocks + 1):
            setattr(self, "res%d" % i, ResidualBlock(c))
        self.blocks = blocks
        self.deconv1 = UpsampleConvLayer(c, b, 3, 1, upsample=2, mode=upsample_mode)
        self.in4 = torch.nn.InstanceNorm2d(b, affine=True)
        self.deconv2 = UpsampleConvLayer(b, a, 3, 1, upsample=2, mode=upsample_mode)
        self.in5 = torch.nn.InstanceNorm2d(a, affine=True)
        self.deconv3 = ConvLayer(a, 3, kernel_size=9, stride=1)
        self.relu = torch.nn.ReLU()

    def forward(self, x):
        y = self.relu(self.in1(self.conv1(x)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        for i in range(1, self.blocks + 1):
            y = getattr(self, "res%d" % i)(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


def random_net(seed: int = 0, widths=(8, 16, 32), blocks=2, upsample_mode="nearest"):
    """A TransformerNet with random weights whose output spans much of 0..255 (not the clamp):
    norm affines away from 1/0 and the output conv scaled around mid-grey."""
    torch.manual_seed(seed)
    net = TransformerNet(widths, blocks, upsample_mode).eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.InstanceNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
        net.deconv3.conv2d.weight.mul_(30.0)
        net.deconv3.conv2d.bias.add_(127.5)
    return net
