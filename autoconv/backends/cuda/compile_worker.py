"""A worker process of :mod:`autoconv.backends.cuda.compiling`: compiles the kernels it is sent,
for the GPU it is told, and sends each back compiled.

``python -m autoconv.backends.cuda.compile_worker``, its standard input and output the pipes of
its parent, which writes messages (:func:`~autoconv.backends.cuda.compiling.write_message`):
the number of the GPU, then a kernel at a time, (dispatcher, argument types) pickled, then None.
The worker answers "ready" once its CUDA context is made, then for each kernel the compiled
kernel pickled (numba-cuda's ``_Kernel``: its PTX and cubin), or None where it failed (its
parent's launch compiles it then). Anything printed goes to standard error, never into the pipe.
"""

from __future__ import annotations

import os
import pickle
import sys

from numba import cuda

from autoconv.backends.cuda.compiling import read_message, write_message


def main() -> None:
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # prints go to standard error
    requests = sys.stdin.buffer
    try:
        cuda.select_device(read_message(requests))
        write_message(replies, "ready")
        while (job := read_message(requests)) is not None:
            try:
                kernel, types = pickle.loads(job)
                compiled = pickle.dumps(kernel.compile(types))
            except Exception as error:
                print(f"compile_worker: {type(error).__name__}: {error}", file=sys.stderr)
                compiled = None
            write_message(replies, compiled)
    except (EOFError, BrokenPipeError):  # the parent stopped this worker, or ended
        return


if __name__ == "__main__":
    main()
