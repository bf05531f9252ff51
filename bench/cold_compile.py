"""What a cold start compiles on a GPU, and for how long, timed on this machine's CPU: no GPU.

The first process on a GPU compiles each kernel it launches (numba's front end, NVVM, then the
driver's assembler: tenths of a second each); later ones load them from the disk cache
(autoconv/backends/cuda/runtime.py). A fresh machine's first epoch of MNIST is mostly that.

This lists them, then compiles them. First, on numba's CUDA simulator with the GPU's launch
constants (bench/cuda_launches.py's, kernels not run) and its product tiles, the products routed
as on a GPU with cuBLAS, it records every (kernel, argument types) a model's ``fit`` (two epochs,
the first with a last, shorter batch) and ``predict`` launch, with the factory call that made
each kernel. Then a process on the real CUDA target (no GPU: compute capability 9.0 is given)
makes each kernel by the same call and times its compile to PTX for sm_90 (front end and NVVM,
with its device functions, each compiled once a process as on a GPU) and ptxas's assembly.
The sum leaves out what the GPU process adds (loading the driver and cuBLAS, the assembler's
run through the driver, the disk cache's writes) and any launch the simulator's own sizes
change: a floor on this CPU, for comparing two versions, not a GPU figure. A kernel made from
another kernel's function defined inside a function is left out (said).

    python bench/cold_compile.py [--model mnist|rgb|stack|xception] [--functions]
    python bench/cold_compile.py [--model NAME] --workers N

With ``--workers N`` the first epoch's kernels are compiled as a GPU process's first recorded
step compiles them (autoconv/backends/cuda/compiling.py: this process and N worker processes
at once, every kernel ready before the step's launches run, into an empty disk cache; 0: this
process alone, one after another), and the whole is timed: the compiles, the disk cache's
writes, the workers' start.

Exit status 3: no NVVM or ptxas to compile with (numba-cuda's cu12 extra, or a CUDA toolkit).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import pickle
import pkgutil
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def record(model_name: str, out: str) -> None:
    """On the simulator: pickle [(origin, argument types, phase)] of every launch (see module)."""
    import cuda_launches  # noqa: F401  (the GPU's launch constants; kernels not run)
    import numba
    import numpy as np
    from epoch_vs_torch import WORKLOADS
    from numba.cuda.simulator import kernel as simulated
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    import autoconv as ac
    import autoconv.backends.cuda as package
    from autoconv.backends.cuda import cublas, gemm

    gemm.BLOCK, gemm.PER_THREAD, gemm.TILE_K, gemm.SIDE = 64, 4, 16, 16  # the GPU's tiles
    gemm.TC_TILE, gemm.TC_TILE_K = 128, 16
    cublas.library = lambda: True  # products routed as with cuBLAS, which is not run
    gemm._cublas = lambda product: None
    origins: dict[int, tuple] = {}  # id of a kernel or device function -> how it was made

    def note(made: Any, origin: tuple) -> None:
        if callable(made):
            origins[id(made)] = origin
        elif isinstance(made, tuple | list):
            for i, item in enumerate(made):
                note(item, (*origin, ("item", i)))
        elif hasattr(made, "__dict__"):
            for name, item in vars(made).items():
                note(item, (*origin, ("attr", name)))

    def encode(value: Any) -> Any:
        if isinstance(value, tuple):
            return tuple(encode(item) for item in value)
        if id(value) in origins:
            return ("<made>", origins[id(value)])
        function = getattr(value, "fn", value)  # the simulator's kernel objects
        if callable(function) and hasattr(function, "__qualname__"):
            return ("<function>", function.__module__, function.__qualname__)
        return value

    def recording(factory: Any) -> Any:
        @functools.wraps(factory)
        def made(*args: Any, **kwargs: Any) -> Any:
            result = factory(*args, **kwargs)
            called = encode(args), encode(tuple(sorted(kwargs.items())))
            note(result, ((factory.__module__, factory.__qualname__, *called),))
            return result

        return made

    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for name, value in list(vars(module).items()):
            if (
                isinstance(value, functools._lru_cache_wrapper)
                and value.__module__ == module.__name__
            ):
                wrapper = recording(value)
                for other in sys.modules.values():  # its importers' names for it too
                    if (
                        getattr(other, "__name__", "").startswith("autoconv")
                        and getattr(other, name, None) is value
                    ):
                        setattr(other, name, wrapper)  # fmt: skip

    def typeof(value: Any) -> Any:
        if isinstance(value, FakeCUDAArray):
            return numba.typeof(value._ary)
        if isinstance(value, tuple):
            return numba.types.BaseTuple.from_types([typeof(item) for item in value])
        return numba.typeof(value)

    seen: dict[tuple, str] = {}
    phase = ["fit, epoch 1"]
    configure = simulated.FakeCUDAKernel.__getitem__

    def recording_launch(kernel: Any, config: Any) -> Any:
        launch = configure(kernel, config)

        def launched(*args: Any) -> Any:
            origin = origins.get(id(kernel)) or (
                ("<function>", kernel.fn.__module__, kernel.fn.__qualname__),
            )
            seen.setdefault((origin, tuple(typeof(a) for a in args)), phase[0])  # fmt: skip
            return launch(*args)

        return launched

    simulated.FakeCUDAKernel.__getitem__ = recording_launch
    workload = WORKLOADS[model_name]
    batch = workload.batch
    if model_name == "mnist":
        rng = np.random.default_rng(0)
        x = rng.random((4 * batch + batch // 2, 28, 28, 1), dtype=np.float32)
        y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, len(x))]
    else:
        x, y = workload.data(4 * batch + batch // 2)
    optimizer = (
        ac.optimizers.Adam(3e-4) if model_name == "xception" else ac.optimizers.RMSprop(1e-3)
    )
    model = workload.build().to("cuda")
    model.compile(optimizer, workload.loss, metrics=["accuracy"])
    epoch = ac.callbacks.LambdaCallback(
        on_epoch_begin=lambda at, logs: phase.__setitem__(0, f"fit, epoch {at + 1}")
    )
    model.fit(x, y, batch_size=batch, epochs=2, verbose=0, callbacks=[epoch])
    phase[0] = "predict"
    model.predict(np.concatenate([x] * (512 // len(x) + 1))[:512], batch_size=256, verbose=0)
    with open(out, "wb") as file:
        pickle.dump([(origin, types, when) for (origin, types), when in seen.items()], file)


def resolve(module: str, qualname: str) -> Any:
    """The object ``qualname`` names in ``module``."""
    value = importlib.import_module(module)
    for part in qualname.split("."):
        value = getattr(value, part)
    return value


def made(origin: tuple) -> tuple[Any, str]:
    """The kernel a recorded factory call (``origin``) made, made again, and its label."""
    head, *path = origin
    if head[0] == "<function>":
        kernel, label = resolve(head[1], head[2]), head[2]
    else:
        kwargs = dict(decode(head[3]))
        kernel, label = resolve(head[0], head[1])(*decode(head[2]), **kwargs), head[1]
    for kind, key in path:
        kernel = kernel[key] if kind == "item" else getattr(kernel, key)
        label += f".{key}"
    return kernel, label


def decode(value: Any) -> Any:
    """A recorded factory argument, made again."""
    if isinstance(value, tuple) and value[:1] == ("<made>",):
        return made(value[1])[0]
    if isinstance(value, tuple) and value[:1] == ("<function>",):
        return resolve(value[1], value[2])
    return tuple(decode(item) for item in value) if isinstance(value, tuple) else value


def compile_all(recorded: str, functions: bool) -> None:
    """On the real CUDA target without a GPU: compile each recorded kernel, timed (see module)."""
    import types as pytypes

    try:  # ptxas: the cu12 wheel's (numba-cuda's cu12 extra), else a CUDA toolkit's on PATH
        import nvidia.cuda_nvcc

        ptxas = str(Path(next(iter(nvidia.cuda_nvcc.__path__))) / "bin" / "ptxas")
    except ImportError:
        ptxas = shutil.which("ptxas")
    if ptxas is None:
        print('no ptxas to assemble with: pip install "numba-cuda[cu12]"', file=sys.stderr)
        sys.exit(3)
    from numba import cuda
    from numba.cuda import compiler, dispatcher
    from numba.cuda.cudadrv.error import NvvmSupportError

    dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=(9, 0))
    compiled: list[str] = []  # the functions each compile made (the kernel, its device functions)
    compile_cuda = compiler.compile_cuda

    def counting(function: Any, *args: Any, **kwargs: Any) -> Any:
        compiled.append(function.__qualname__.replace("<locals>.", ""))
        return compile_cuda(function, *args, **kwargs)

    compiler.compile_cuda = dispatcher.compile_cuda = counting

    totals: dict[str, list[float]] = {}
    print("| phase | kernel | functions compiled | front end + NVVM (s) | ptxas (s) |")
    print("|---|---|---|---|---|")
    with open(recorded, "rb") as file:
        entries = pickle.load(file)
    for origin, types, phase in entries:
        try:
            kernel, label = made(origin)
        except AttributeError as error:  # a function made inside another: no name to find it by
            print(f"| {phase} | (left out: {error}) | | | |")
            continue
        compiled.clear()
        start = time.perf_counter()
        try:
            ptx, _ = cuda.compile_ptx(kernel.py_func, types, cc=(9, 0))
        except NvvmSupportError as error:
            print(f"no NVVM to compile with: {error}", file=sys.stderr)
            sys.exit(3)
        middle = time.perf_counter()
        cap = getattr(kernel, "targetoptions", {}).get("max_registers")
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "kernel.ptx").write_text(ptx)
            subprocess.run(
                [ptxas, "-arch=sm_90", *([f"-maxrregcount={cap}"] if cap else []),
                 "-o", f"{folder}/kernel.cubin", f"{folder}/kernel.ptx"], check=True,
            )  # fmt: skip
        end = time.perf_counter()
        names = f": {', '.join(compiled[1:])}" if functions and len(compiled) > 1 else ""
        seconds = f"{middle - start:.2f} | {end - middle:.2f}"
        print(f"| {phase} | {label} | {len(compiled)}{names} | {seconds} |")
        total = totals.setdefault(phase, [0, 0.0, 0.0])
        total[0] += 1
        total[1] += middle - start
        total[2] += end - middle
    print()
    for phase, (count, front, assembly) in totals.items():
        print(f"{phase}: {count} kernels, {front:.1f} s front end + NVVM, {assembly:.1f} s ptxas, "
              f"{front + assembly:.1f} s in all")  # fmt: skip


def compile_together(recorded: str, workers: int) -> None:
    """On the real CUDA target without a GPU (tests/backends/sm90.py): the first epoch's kernels
    compiled as a GPU process's first recorded step compiles them (compiling.compile_together:
    this process and ``workers`` worker processes at once, into an empty disk cache), timed."""
    sys.path.insert(0, str(HERE.parent / "tests" / "backends"))
    import sm90  # noqa: F401  (first: a compile's questions about the GPU answered without one)

    from autoconv.backends.cuda import compiling

    compiling.WORKERS, compiling.MIN_KERNELS = workers, 1
    compiling.WORKER_COMMAND = [sys.executable, __file__, "--worker"]
    compiling._device = lambda: 0
    with open(recorded, "rb") as file:
        entries = pickle.load(file)
    kernels = [(made(origin)[0], types) for origin, types, phase in entries
               if phase == "fit, epoch 1"]  # fmt: skip
    start = time.perf_counter()
    from_workers = 0
    if workers:
        from_workers = compiling.compile_together(kernels)
    else:  # as their launches compile them, one after another
        for kernel, types in kernels:
            kernel.compile(types)
    seconds = time.perf_counter() - start
    print(f"fit, epoch 1: {len(kernels)} kernels compiled in {seconds:.1f} s by this process "
          f"and {workers} workers ({from_workers} by the workers)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["mnist", "rgb", "stack", "xception"], default="mnist")
    parser.add_argument(
        "--functions", action="store_true", help="name each kernel's device functions"
    )
    parser.add_argument(
        "--workers", type=int, metavar="N",
        help="compile the first epoch's kernels as a GPU process does, with N compile workers",
    )  # fmt: skip
    parser.add_argument("--record", metavar="FILE", help=argparse.SUPPRESS)  # the children's
    parser.add_argument("--compile", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.record:
        return record(args.model, args.record)
    if args.worker:  # a compile worker of compile_together's, answered as sm90.py
        sys.path.insert(0, str(HERE.parent / "tests" / "backends"))
        import sm90  # noqa: F401

        from autoconv.backends.cuda import compile_worker

        return compile_worker.main()
    if args.compile and args.workers is not None:
        return compile_together(args.compile, args.workers)
    if args.compile:
        return compile_all(args.compile, args.functions)
    with tempfile.TemporaryDirectory() as folder:
        recorded = str(Path(folder) / "launches.pickle")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
        child = [sys.executable, __file__, "--model", args.model]
        subprocess.run(
            [*child, "--record", recorded], env={**env, "NUMBA_ENABLE_CUDASIM": "1"}, check=True
        )
        from gpu_vs_torch import cpu_name

        print(f"{args.model}: the kernels of a cold start, compiled for sm_90 on {cpu_name()} "
              f"({os.cpu_count()} cores), {time.strftime('%Y-%m-%d')}")  # fmt: skip
        print()
        options = ["--functions"] if args.functions else []
        if args.workers is not None:
            options = ["--workers", str(args.workers)]
        done = subprocess.run(
            [*child, "--compile", recorded, *options],
            env={**env, "NUMBA_ENABLE_CUDASIM": "0", "NUMBA_CACHE_DIR": folder},
        )  # fmt: skip
        sys.exit(done.returncode)


if __name__ == "__main__":
    main()
