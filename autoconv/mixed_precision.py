"""``keras.mixed_precision``'s names: the global dtype policy (see
:mod:`autoconv.dtype_policies`). autoconv computes in float32 or float64, so
``set_global_policy("mixed_float16")`` is one clear error, and ``LossScaleOptimizer`` (loss
scaling for half precision) is not needed."""

from __future__ import annotations

from autoconv.dtype_policies import DTypePolicy, dtype_policy, set_dtype_policy
from autoconv.naming import missing_names

Policy = DTypePolicy
global_policy = dtype_policy
set_global_policy = set_dtype_policy

__all__ = [
    "DTypePolicy", "Policy", "dtype_policy", "global_policy", "set_dtype_policy",
    "set_global_policy",
]  # fmt: skip


__getattr__ = missing_names(
    "mixed_precision",
    frozenset({"LossScaleOptimizer"}),
    "which has no half precision to scale losses for (it computes in float32 or float64)",
)
