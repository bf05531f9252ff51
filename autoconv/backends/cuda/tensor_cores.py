"""The GPU's tensor cores in TensorFloat-32, for the matrix product (autoconv.backends.cuda.gemm):
one warp's ``mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32`` (D = A B + C, A 16 x 8, B 8 x
8, C and D 16 x 8 in float32) and the rounding of a float32 to TF32, as inline PTX in
numba.cuda device functions; on numba's simulator, Python that does what the PTX ISA says they
do, so the product kernel's use of them is tested in CI.

The fragments a lane holds (PTX ISA, "Matrix Fragments for mma.m16n8k8", .tf32; lane = 4 g +
t): A's (g, t), (g + 8, t), (g, t + 4), (g + 8, t + 4) as a0..a3 (row, k); B's (t, g), (t + 4,
g) as b0, b1 (k, column); C's and D's (g, 2t), (g, 2t + 1), (g + 8, 2t), (g + 8, 2t + 1).
"""

from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from autoconv.backends.cuda.runtime import SIMULATED

WARP = 32
MINIMUM_CAPABILITY = (8, 0)  # mma.sync with .tf32: Ampere and later


@functools.cache
def available() -> bool:
    """Whether this GPU has TF32 tensor cores (compute capability 8.0 and up); the simulator
    runs the emulation, so it has."""
    if SIMULATED:
        return True
    return tuple(cuda.get_current_device().compute_capability) >= MINIMUM_CAPABILITY


if SIMULATED:

    def _tf32(value):
        # cvt.rna.tf32.f32: round to the nearest of 10 mantissa bits, ties away from zero (a
        # half unit added to the magnitude, the 13 bits below cut); infinities and NaNs kept.
        bits = int(np.float32(value).view(np.uint32))
        if bits & 0x7F800000 != 0x7F800000:
            bits = (bits + 0x1000) & 0xFFFFE000
        return float(np.uint32(bits).view(np.float32))

    def _fragment_a(lanes, row, k):
        """A's (row, k) from the lanes' a0..a3 (see the module)."""
        return lanes[(row % 8) * 4 + k % 4, (row // 8) + 2 * (k // 4)]

    def _mma(scratch, thread, a0, a1, a2, a3, b0, b1, c0, c1, c2, c3):
        # Every thread of the block calls it at the same point (the product kernel's loop is
        # the same for all), so the block's barrier stands for the warp's: each lane puts its
        # fragments in the block's scratch (THREADS x 6), then reads its warp's.
        scratch[thread, 0], scratch[thread, 1], scratch[thread, 2] = a0, a1, a2
        scratch[thread, 3], scratch[thread, 4], scratch[thread, 5] = a3, b0, b1
        cuda.syncthreads()
        warp = scratch[thread - thread % WARP : thread - thread % WARP + WARP]
        g, t = (thread % WARP) // 4, thread % 4
        out = []
        for c, row, column in ((c0, g, 2 * t), (c1, g, 2 * t + 1), (c2, g + 8, 2 * t),
                               (c3, g + 8, 2 * t + 1)):  # fmt: skip
            total = np.float32(c)
            for k in range(8):
                b = warp[column * 4 + k % 4, 4 + k // 4]
                total = np.float32(total + np.float32(_fragment_a(warp, row, k)) * np.float32(b))
            out.append(float(total))
        cuda.syncthreads()  # every lane has read before the scratch is written again
        return out[0], out[1], out[2], out[3]

    round_tf32 = cuda.jit(device=True)(_tf32)
    mma_tf32 = cuda.jit(device=True)(_mma)

else:
    from llvmlite import ir
    from numba import types
    from numba.cuda.extending import intrinsic

    @intrinsic
    def _cvt_rna_tf32(typingctx, value):
        def codegen(context, builder, signature, args):
            asm = ir.InlineAsm(
                ir.FunctionType(ir.IntType(32), [ir.FloatType()]),
                "cvt.rna.tf32.f32 $0, $1;",
                "=r,f",
            )
            return builder.bitcast(builder.call(asm, args), ir.FloatType())

        return types.float32(types.float32), codegen

    @intrinsic
    def _mma_sync(typingctx, a0, a1, a2, a3, b0, b1, c0, c1, c2, c3):
        # A's and B's TF32 values travel in 32-bit registers (their float32 bits).
        def codegen(context, builder, signature, args):
            f32, i32 = ir.FloatType(), ir.IntType(32)
            result = ir.LiteralStructType([f32] * 4)
            asm = ir.InlineAsm(
                ir.FunctionType(result, [i32] * 6 + [f32] * 4),
                "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
                "{$0, $1, $2, $3}, {$4, $5, $6, $7}, {$8, $9}, {$10, $11, $12, $13};",
                "=f,=f,=f,=f,r,r,r,r,r,r,f,f,f,f",
            )
            bits = [builder.bitcast(value, i32) for value in args[:6]]
            out = builder.call(asm, [*bits, *args[6:]])
            values = [builder.extract_value(out, i) for i in range(4)]
            return context.make_tuple(builder, signature.return_type, values)

        return types.UniTuple(types.float32, 4)(*(types.float32,) * 10), codegen

    @cuda.jit(device=True)
    def round_tf32(value):
        """``value`` (float32) rounded to TF32 (cvt.rna: nearest, ties away from zero)."""
        return _cvt_rna_tf32(value)

    @cuda.jit(device=True)
    def mma_tf32(scratch, thread, a0, a1, a2, a3, b0, b1, c0, c1, c2, c3):
        """This lane's D fragment (d0, d1, d2, d3) of D = A B + C for its warp (A's, B's and
        C's fragments as the module says; ``scratch`` and ``thread`` are the simulator's)."""
        return _mma_sync(a0, a1, a2, a3, b0, b1, c0, c1, c2, c3)
