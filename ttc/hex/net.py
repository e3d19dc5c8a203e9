"""Policy-value network: a small MLP over the canonical board (torch to train, numpy to play).

Input `[B, 2*n*n]` (own stones, opponent stones, seen as Black). Trunk: `depth` fully connected ReLU
layers of `width`. Heads: policy logits `[B, n*n]` over canonical cells and a tanh value `[B]` for
the side to move. Compute is counted as every FLOP in ttc (`ttc.compute`): P = the weights a forward pass
multiplies by (biases not counted), 2·P FLOPs per position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ttc.compute import inference_flops


@dataclass(frozen=True)
class NetShape:
    board_size: int
    width: int
    depth: int = 2

    @property
    def layer_dims(self) -> list[tuple[int, int]]:
        cells = self.board_size ** 2
        dims = [(2 * cells, self.width)] + [(self.width, self.width)] * (self.depth - 1)
        return dims + [(self.width, cells + 1)]  # policy and value heads share one matrix

    @property
    def flop_params(self) -> int:
        """P: the weights a forward pass multiplies by (``ttc.compute``'s convention; biases not counted)."""
        return sum(a * b for a, b in self.layer_dims)

    @property
    def forward_flops(self) -> int:
        """FLOPs of one forward pass on one position: 2·P."""
        return int(inference_flops(self.flop_params, 1))


class PolicyValueNet(nn.Module):
    def __init__(self, shape: NetShape):
        super().__init__()
        self.shape = shape
        dims = shape.layer_dims
        self.trunk = nn.ModuleList(nn.Linear(a, b) for a, b in dims[:-1])
        self.head = nn.Linear(*dims[-1])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for layer in self.trunk:
            x = torch.relu(layer(x))
        out = self.head(x)
        return out[:, :-1], torch.tanh(out[:, -1])


def to_numpy(net: PolicyValueNet) -> dict[str, np.ndarray]:
    """Weights as plain arrays: `w0, b0, ..., w_head, b_head` with `w` shaped `[in, out]`."""
    params = {}
    layers: list[nn.Linear] = [*net.trunk, net.head]  # the trunk holds Linear layers
    for i, layer in enumerate(layers):
        params[f"w{i}"] = layer.weight.detach().numpy().T.astype(np.float32).copy()
        params[f"b{i}"] = layer.bias.detach().numpy().astype(np.float32).copy()
    return params


def make_forward(params: dict[str, np.ndarray]):
    """`x [B, 2*n*n] float32 -> (logits [B, n*n], value [B])` as numpy, same maths as
    `PolicyValueNet.forward`. Runs on torch: numpy's multithreaded BLAS stalls on 2 shared cores."""
    n_layers = len(params) // 2
    w = [torch.from_numpy(params[f"w{i}"]) for i in range(n_layers)]
    b = [torch.from_numpy(params[f"b{i}"]) for i in range(n_layers)]

    def forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            h = torch.from_numpy(x)
            for i in range(n_layers - 1):
                h = torch.relu(torch.addmm(b[i], h, w[i]))
            out = torch.addmm(b[-1], h, w[-1])
            return out[:, :-1].numpy(), torch.tanh(out[:, -1]).numpy()

    return forward
