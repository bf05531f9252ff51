"""Reading a folder of images: autoconv's Dataset against grain and torchvision, each engine
in its own process.

One pass over FOLDER (e.g. the MNIST export: ``autoconv.datasets.export("mnist", FOLDER)``,
or the JPEG photos ``--make-photos`` writes) in shuffled batches of 64, resized to SIZE x SIZE
(default 28) in COLOR_MODE (default grayscale), in a process set up as ``fit`` sets it up
(``configure_process``). For each engine it prints samples/s and the process's peak resident
memory (and its largest worker process's), in two modes:

- ``idle``: the consumer does nothing, so this is the loader's own throughput;
- ``busy``: the consumer holds one core for BUSY_MS per batch without the GIL, as a training
  step does (11.4 ms per 64 images is the 5,600 samples/s autoconv trains the MNIST convnet
  at on one core), so this shows whether loading overlaps the step.

Engines:

- ``autoconv``: ``image_dataset_from_directory``.
- ``grain-keras`` (the pipeline Keras 3 builds for ``format="grain"``: per-image map,
  ``to_iter_dataset()`` with grain's default 16 threads, then batch), ``grain-2threads`` (the
  same on 2 threads), ``grain-2procs`` (2 worker processes through ``mp_prefetch``): these
  decode and resize through autoconv's ``ImageLoader``, so only the pipelines differ. They
  need ``pip install grain``.
- ``torchvision``: ``ImageFolder`` + ``DataLoader(batch_size=64, shuffle=True,
  num_workers=2)`` with the transforms users write: ``Resize((SIZE, SIZE))`` (Pillow's
  bilinear, which filters over more pixels when shrinking) and ``ToTensor()`` (float32 in
  [0, 1], channels first).
- ``torchvision-exact``: the same loader doing autoconv's arithmetic: ``PILToTensor``,
  float32, ``Resize((SIZE, SIZE), antialias=False)`` (bilinear, half-pixel centres: what
  ``tf.image.resize`` and autoconv compute), float32 in 0-255.
  The torchvision engines need ``pip install torchvision`` (the version matching torch).

    python bench/image_folder_loading.py FOLDER [ROUNDS=2] [SIZE=28] [COLOR_MODE=grayscale]
        [--engines autoconv,torchvision,...] [--modes idle,busy]
    python bench/image_folder_loading.py --make-photos FOLDER [COUNT=600]
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numba
import numpy as np

from autoconv.process import configure_process

BATCH = 64
BUSY_MS = 11.4
GRAIN_ENGINES = ("grain-keras", "grain-2threads", "grain-2procs")
TORCHVISION_ENGINES = ("torchvision", "torchvision-exact")


@numba.njit(nogil=True, cache=True)
def _spin(n: int) -> float:
    """Hold one core for ``n`` loop turns without the GIL (a stand-in for a training step)."""
    total = 0.0
    for i in range(n):
        total += np.sqrt(i + total * 1e-9)
    return total


def turns_for(seconds: float) -> int:
    """The number of ``_spin`` turns that takes ``seconds`` on this machine."""
    _spin(10)
    started = time.perf_counter()
    _spin(10**7)
    return int(seconds * 10**7 / (time.perf_counter() - started))


def batches(engine: str, folder: str, size: int, color_mode: str):
    from autoconv.data.directory import ALLOWLIST_FORMATS, CHANNELS, ImageLoader, index_directory

    if engine == "autoconv":
        from autoconv.utils import image_dataset_from_directory

        return image_dataset_from_directory(
            folder,
            color_mode=color_mode,
            image_size=(size, size),
            batch_size=BATCH,
            seed=0,
            verbose=False,
        )
    if engine.startswith("torchvision"):
        return torchvision_batches(engine, folder, size, color_mode)
    import grain
    from absl import flags

    flags.FLAGS.mark_as_parsed()  # grain's worker processes read its flags
    paths, labels, _ = index_directory(
        folder, "inferred", ALLOWLIST_FORMATS, shuffle=True, seed=0, verbose=False
    )
    loader = ImageLoader((size, size), CHANNELS[color_mode], "bilinear", False, False, False)
    ds = grain.MapDataset.source(list(zip(paths, labels.tolist(), strict=True))).shuffle(seed=0)
    ds = ds.map(lambda pair: (loader(pair[0]), np.int32(pair[1])))
    if engine == "grain-keras":
        return ds.to_iter_dataset().batch(BATCH)
    ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=2, prefetch_buffer_size=4 * BATCH))
    ds = ds.batch(BATCH)
    if engine == "grain-2procs":
        ds = ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=2))
    return ds


def torchvision_batches(engine: str, folder: str, size: int, color_mode: str):
    import torch

    from autoconv.data.directory import CHANNELS, PIL_MODES

    torchvision = import_torchvision()
    from torchvision import transforms
    from torchvision.transforms import v2

    if engine == "torchvision":
        transform = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor()])
    else:
        transform = v2.Compose(
            [
                v2.PILToTensor(),
                v2.ToDtype(torch.float32),
                v2.Resize((size, size), antialias=False),
            ]
        )
    loader = functools.partial(open_image, mode=PIL_MODES[CHANNELS[color_mode]])
    images = torchvision.datasets.ImageFolder(folder, transform, loader=loader)
    return torch.utils.data.DataLoader(images, batch_size=BATCH, shuffle=True, num_workers=2)


def open_image(path: str, mode: str):
    """ImageFolder's default loader, in ``mode`` ("L", "RGB" or "RGBA")."""
    from PIL import Image

    with open(path, "rb") as f:
        return Image.open(f).convert(mode)


def import_torchvision():
    """torchvision, also where its compiled ops cannot load (a CUDA build of torchvision next to
    a CPU torch): ImageFolder, the transforms and DataLoader are Python, but its import
    registers shapes for two of those ops, so their names are declared first."""
    import torch

    try:
        import torchvision
    except RuntimeError as error:
        if "torchvision::nms" not in str(error):
            raise
        for name in [name for name in sys.modules if name.startswith("torchvision")]:
            del sys.modules[name]
        library = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        import_torchvision.library = library  # kept alive: dropping it undefines the ops
        import torchvision
    return torchvision


def make_photos(folder: str, count: int, classes: int = 5, seed: int = 0) -> None:
    """``count`` photo-like 400x300 RGB JPEGs (quality 90, ~30-40 KB: smooth colour fields,
    a few blurred shapes, sensor-like noise) spread over ``classes`` class folders."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    width, height = 400, 300
    for i in range(count):
        base = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
        image = Image.fromarray(base).resize((width, height), Image.Resampling.BICUBIC)
        draw = ImageDraw.Draw(image)
        for _ in range(rng.integers(3, 8)):
            x, y = rng.integers(0, width), rng.integers(0, height)
            w, h = rng.integers(20, width // 2), rng.integers(20, height // 2)
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape((x, y, x + w, y + h), fill=colour)
        image = np.asarray(image.filter(ImageFilter.GaussianBlur(1.5)), np.float32)
        image += rng.normal(0, 8, image.shape).astype(np.float32)
        class_folder = os.path.join(folder, f"class{i % classes}")
        os.makedirs(class_folder, exist_ok=True)
        photo = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
        photo.save(os.path.join(class_folder, f"{i:04d}.jpg"), quality=90)


def one_run(engine: str, folder: str, busy: bool, size: int, color_mode: str) -> dict:
    configure_process()  # as fit does: glibc keeps freed buffers instead of unmapping them
    turns = turns_for(BUSY_MS / 1000) if busy else 0
    data = batches(engine, folder, size, color_mode)
    started = time.perf_counter()
    count = 0
    for images, _ in data:
        count += len(images)
        if busy:
            _spin(turns)
    elapsed = time.perf_counter() - started
    return {
        "samples_per_s": count / elapsed,
        "images": count,
        "peak_mb": peak_resident_mb(),
        "worker_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def peak_resident_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from
    the process that started it)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def available_engines() -> tuple[str, ...]:
    engines = ("autoconv",)
    for module, names in (("grain", GRAIN_ENGINES), ("torchvision", TORCHVISION_ENGINES)):
        if importlib.util.find_spec(module) is not None:
            engines += names
    return engines


def main() -> None:
    if sys.argv[1] == "--child":
        engine, folder, mode, size, color_mode = sys.argv[2:7]
        print(json.dumps(one_run(engine, folder, mode == "busy", int(size), color_mode)))
        return
    if sys.argv[1] == "--make-photos":
        make_photos(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 600)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("rounds", nargs="?", type=int, default=2)
    parser.add_argument("size", nargs="?", default="28")
    parser.add_argument("color_mode", nargs="?", default="grayscale")
    parser.add_argument("--engines", default=",".join(available_engines()))
    parser.add_argument("--modes", default="idle,busy")
    args = parser.parse_args()
    engines, modes = args.engines.split(","), args.modes.split(",")
    results: dict[tuple[str, str], list[dict]] = {}
    for round_ in range(args.rounds):  # alternate engines so the machine's drift hits all alike
        for mode in modes:
            for engine in engines if round_ % 2 == 0 else engines[::-1]:
                command = [sys.executable, __file__, "--child", engine, args.folder, mode]
                out = subprocess.run(
                    [*command, args.size, args.color_mode],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=os.environ,
                )
                run = json.loads(out.stdout.strip().splitlines()[-1])
                results.setdefault((engine, mode), []).append(run)
                print(
                    f"{engine:17s} {mode:5s} {run['samples_per_s']:8.0f} samples/s "
                    f"peak {run['peak_mb']:6.0f} MB, workers {run['worker_peak_mb']:4.0f} MB  "
                    "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()),
                    flush=True,
                )
    print("\nmedians (min-max):")
    for (engine, mode), runs in sorted(results.items(), key=lambda item: item[0][1]):
        rates = [r["samples_per_s"] for r in runs]
        peak = statistics.median(r["peak_mb"] for r in runs)
        reference = results.get(("autoconv", mode))
        ratio = ""
        if reference and engine != "autoconv":
            base = statistics.median(r["samples_per_s"] for r in reference)
            ratio = f"  autoconv / this {base / statistics.median(rates):.2f}x"
        print(
            f"{engine:17s} {mode:5s} {statistics.median(rates):8.0f} samples/s "
            f"({min(rates):.0f}-{max(rates):.0f})  peak {peak:6.0f} MB{ratio}"
        )


if __name__ == "__main__":
    main()
