"""Imported first by the scripts of this folder that compile autoconv's CUDA kernels as a GPU
run does but on a machine without one: the questions a compile asks the GPU are answered with
sm_90 (an H100's compute capability, for the disk cache's key and the code), a kernel is linked
to a cubin instead of loaded into a context (what numba-cuda saves and pickles is the cubin),
and choosing the GPU does nothing. Needs NVVM and nvJitLink (numba-cuda's cu12 extra)."""

import types as pytypes

from numba import cuda
from numba.cuda import codegen, dispatcher

H100 = (9, 0)
dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=H100)
codegen.JITCUDACodegen.magic_tuple = lambda self: ("no runtime", H100)
codegen.CUDACodeLibrary._ensure_cc = lambda self, cc: cc or (*H100, "a")
dispatcher._Kernel.bind = lambda self: self._codelibrary.get_cubin()
cuda.select_device = lambda number: None
