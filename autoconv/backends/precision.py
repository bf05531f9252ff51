"""How float32 matrix products are computed on the GPU, one setting for the whole process, as
PyTorch's ``torch.set_float32_matmul_precision``: "high" (the default) lets the GPU's tensor
cores multiply in TensorFloat-32 (inputs rounded to 10 bits of mantissa, products summed in
float32), as a Keras user's GPU does by default on either of Keras's GPU backends (TensorFlow's
TF32 execution, JAX's default precision) and as PyTorch's cuDNN convolutions do, on GPUs that have
them (compute capability 8.0 and up; the others keep float32); "highest" multiplies in float32.
The CPU always multiplies in float32, and float64 products are never rounded.
:func:`autoconv.config.set_float32_matmul_precision` sets it; the CUDA matrix product reads it
as each product is planned, so a step recorded for replay keeps the kernels it was recorded with.
"""

from __future__ import annotations

PRECISIONS = ("highest", "high")

DEFAULT = "high"

_precision = DEFAULT


def set_float32_matmul_precision(precision: str) -> None:
    """ "highest" (float32) or "high" (TensorFloat-32 on tensor cores); ValueError otherwise."""
    global _precision
    if precision not in PRECISIONS:
        raise ValueError(
            f"set_float32_matmul_precision: unknown precision {precision!r}; expected one of "
            f"{', '.join(map(repr, PRECISIONS))}"
        )
    _precision = precision


def get_float32_matmul_precision() -> str:
    """The precision float32 products are computed in: "highest" or "high"."""
    return _precision


def tensor_float32() -> bool:
    """Whether float32 products may use TensorFloat-32 (the "high" precision)."""
    return _precision == "high"
