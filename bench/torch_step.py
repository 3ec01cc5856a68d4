"""The float32 full-update training step of a stock_training.Program in PyTorch (the `torch` row
of vs_stock.py): the same network, weights and SGD step as the TensorFlow row, batch 1, autograd.

Tensors stay NHWC at the layer boundaries (as the .tflite has them), so a reshape before the
classifier flattens in the same order; each conv runs in PyTorch's NCHW with TF's padding
(SAME puts the odd pixel at the bottom/right).
"""
from __future__ import annotations

import numpy as np

from stock_training import Program, _pads


class TorchModel:
    def __init__(self, prog: Program, learning_rate: float = 0.01):
        import torch

        self.torch, self.prog = torch, prog
        self.params: dict[str, torch.nn.Parameter] = {}
        for i, L in enumerate(prog.layers):
            if L.kind == "conv":  # HWIO -> OIHW
                self._param(f"w{i}", L.w.transpose(3, 2, 0, 1))
            elif L.kind == "dw":  # HWC1 -> C1HW
                self._param(f"w{i}", L.w.transpose(2, 3, 0, 1))
            elif L.kind == "fc":  # [in, out]
                self._param(f"w{i}", L.w)
            if L.b is not None:
                self._param(f"b{i}", L.b)
        self.opt = torch.optim.SGD(list(self.params.values()), lr=learning_rate)

    def _param(self, name: str, value: np.ndarray) -> None:
        self.params[name] = self.torch.nn.Parameter(self.torch.from_numpy(np.ascontiguousarray(value, np.float32)))

    def _conv(self, a, L, i: int, groups: int):
        F = self.torch.nn.functional
        x = a.permute(0, 3, 1, 2)
        kh, kw = L.w.shape[0], L.w.shape[1]
        top, bottom = _pads(L.x_shape[1], L.y_shape[1], kh, L.stride[0], L.padding)
        left, right = _pads(L.x_shape[2], L.y_shape[2], kw, L.stride[1], L.padding)
        if L.padding == "SAME" and (top or bottom or left or right):
            x = F.pad(x, (left, right, top, bottom))
        z = F.conv2d(x, self.params[f"w{i}"], None, L.stride, 0, 1, groups)
        z = z[:, :, :L.y_shape[1], :L.y_shape[2]]  # VALID with a stride that does not divide the input
        return z.permute(0, 2, 3, 1)

    def forward(self, x):
        torch = self.torch
        vals = {self.prog.input_tensor: x}
        for i, L in enumerate(self.prog.layers):
            a = vals[L.x]
            if L.kind == "conv":
                z = self._conv(a, L, i, 1)
            elif L.kind == "dw":
                z = self._conv(a, L, i, int(L.x_shape[3]))
            elif L.kind == "fc":
                z = a.reshape(1, -1) @ self.params[f"w{i}"]
            elif L.kind == "add":
                z = a + vals[L.x2]
            elif L.kind == "mean":
                z = a.mean(dim=(1, 2)).reshape(L.y_shape)
            elif L.kind == "reshape":
                z = a.reshape(L.y_shape)
            else:  # pad, NHWC paddings
                (_, _), (t, b), (le, r), (c0, c1) = L.paddings
                z = torch.nn.functional.pad(a, (c0, c1, le, r, t, b))
            if f"b{i}" in self.params:
                z = z + self.params[f"b{i}"]
            if L.act == 1:
                z = torch.relu(z)
            elif L.act == 3:
                z = torch.clamp(z, 0.0, 6.0)
            elif L.act != 0:
                raise ValueError(f"activation {L.act}")
            vals[L.y] = z
        return vals[self.prog.logits]

    def sgd_step(self, x, label) -> float:
        """One SGD step on one sample; returns the loss before the update."""
        torch = self.torch
        self.opt.zero_grad(set_to_none=True)
        logits = self.forward(x).reshape(1, -1)
        loss = torch.nn.functional.cross_entropy(logits, label)
        loss.backward()
        self.opt.step()
        return float(loss.detach())
