"""``--llm_quantize int8``: the model's linear layers with int8 weights and int8 activations on
a CPU, batch-invariant bit for bit.

The scheme is the one torchao calls *int8 dynamic activation, int8 weight*: each weight row
(output channel) is scaled symmetrically to int8 once, at load; each input row (token) is scaled
to int8 on every call by its own absolute maximum; the product is an exact int8 × int8 → int32
matrix product (``torch._int_mm``), rescaled by the two scales. Why written here and not taken
from a library:

* torchao's own implementation of this scheme runs as a tensor subclass; in eager mode on a
  CPU it measured *slower* than float32 here (1 thread: 0.41 vs 0.12 ms for a 1×576 @ 576×1536
  product, 0.54 vs 0.34 ms at 12 rows), its speed coming from ``torch.compile``;
* torch's own ``torch.ao.quantization.quantize_dynamic`` (fbgemm) is as fast, but scales each
  *call's* input as one tensor: a reply then depends on which other requests share its batch
  (measured: the embedded model answered "What is 2+2?" with "Two and two is 4." in a batch of
  four and with an unrelated sentence alone), and one outlier token's activations crush every
  other token's resolution. It is also deprecated in favour of torchao.

Per-token scales make each row's result independent of the batch: integer products are exact,
whatever the kernel's blocking, and the rescaling is elementwise. Measured at one thread on this
machine's shapes: 2.7× float32 at 12 rows, 3.3–4× at 512; the whole coco job ~1.4×
(``bench/bench_coco.py --compare_quantize``).

torch is imported when these run, not when this module is.
"""

from __future__ import annotations

import functools
from typing import Any

from mmsynth.errors import UsageError

_TINY = 1.1754943508222875e-38  # torch.finfo(torch.float32).tiny: a zero row's scale


@functools.cache
def _int8_linear_class() -> type:
    """The module class, defined on first use (it subclasses a torch class)."""
    import torch

    class Int8Linear(torch.nn.Module):
        """An ``nn.Linear`` with int8 weights (per output channel) and int8 inputs (per row)."""

        def __init__(self, linear: torch.nn.Linear) -> None:
            super().__init__()
            weight = linear.weight.detach().float()
            scale = weight.abs().amax(dim=1).clamp(min=_TINY) / 127
            quantised = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8)
            self.in_features, self.out_features = linear.in_features, linear.out_features
            # [in, out] as a transposed view of the row-major [out, in]: the layout
            # torch._int_mm is fastest with on a CPU (measured)
            self.register_buffer("weight_t", quantised.t(), persistent=False)
            self.register_buffer("weight_scale", scale, persistent=False)
            self.bias = None if linear.bias is None else torch.nn.Parameter(
                linear.bias.detach().float(), requires_grad=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            rows = x.reshape(-1, self.in_features).float()
            # in place where the tensor is this call's own: a decode step runs 211 of these,
            # and each small op costs as much as the product itself at a few rows
            scale = rows.abs().amax(dim=1, keepdim=True).clamp_(min=_TINY).div_(127)
            # |row / scale| <= 127 up to rounding of the last bit, so no clamp is needed
            quantised = rows.div(scale).round_().to(torch.int8)
            out = torch._int_mm(quantised, self.weight_t).float().mul_(scale)
            out.mul_(self.weight_scale)
            if self.bias is not None:
                out.add_(self.bias)
            return out.to(x.dtype).reshape(*x.shape[:-1], self.out_features)

        def extra_repr(self) -> str:
            return f"in_features={self.in_features}, out_features={self.out_features}, int8"

    return Int8Linear


def quantize_linear_int8(model: Any) -> int:
    """Replace every ``nn.Linear`` of ``model`` (on the CPU, float32), in place, by an int8 one
    (see the module's docstring); the number replaced. Embeddings and norms stay float32, and so
    does a tied output head's embedding (the head itself is quantised: it is a fifth of the
    embedded model's FLOPs per written token). UsageError for a torch without
    ``torch._int_mm``."""
    import torch

    if not hasattr(torch, "_int_mm"):
        raise UsageError(f"--llm_quantize int8 needs torch._int_mm, which torch "
                         f"{torch.__version__} lacks: use --llm_quantize off")
    int8_linear = _int8_linear_class()
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is torch.nn.Linear:
                setattr(parent, name, int8_linear(child))
                replaced += 1
    return replaced
