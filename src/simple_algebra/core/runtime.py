"""Where and how big the book's computations run: device, seeding and compute profiles.

Every chapter picks its sizes through :func:`sizes`, so one switch (the ``cpu`` or ``gpu`` profile) scales
the whole book. Environment variables override the automatic choices:

- ``SIMPLE_ALGEBRA_DEVICE``: a torch device string (``cpu``, ``cuda``, ``cuda:1``); default CUDA when available.
- ``SIMPLE_ALGEBRA_PROFILE``: ``cpu`` (every chapter in 30 s on two cores) or ``gpu`` (the papers' larger
  sizes); default ``gpu`` when the device is CUDA, else ``cpu``.
- ``SIMPLE_ALGEBRA_DRY_RUN``: set, a chapter runs the gpu profile with the counts that only set how long it runs
  (steps, seeds) lowered, as each chapter's ``sizes(..., dry=...)`` says: a key, shape or memory error of the
  gpu profile shows on a CPU in a minute (``tests/book/test_gpu_dry_run.py``).
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from typing import Any, TypeVar

import numpy as np
import torch

from .validation import check_device, check_seed

DEVICE_VARIABLE = "SIMPLE_ALGEBRA_DEVICE"
PROFILE_VARIABLE = "SIMPLE_ALGEBRA_PROFILE"
PROFILES = ("cpu", "gpu")
DRY_RUN_VARIABLE = "SIMPLE_ALGEBRA_DRY_RUN"

T = TypeVar("T")


def device() -> torch.device:
    """The device the book computes on: ``$SIMPLE_ALGEBRA_DEVICE`` if set, else CUDA when available, else CPU."""
    requested = os.environ.get(DEVICE_VARIABLE, "").strip()
    if requested:
        try:
            chosen = torch.device(requested)
        except RuntimeError as error:
            raise ValueError(f"{DEVICE_VARIABLE}={requested!r} is not a torch device string") from error
        if chosen.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"{DEVICE_VARIABLE}={requested!r} asks for CUDA, but no CUDA device is available")
        return check_device(DEVICE_VARIABLE, chosen)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def dry_run() -> bool:
    """True when ``$SIMPLE_ALGEBRA_DRY_RUN`` is set: the gpu profile's shapes, run short (see :func:`sizes`)."""
    return os.environ.get(DRY_RUN_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


def profile() -> str:
    """The compute profile: ``$SIMPLE_ALGEBRA_PROFILE`` if set, else ``gpu`` on a CUDA device, else ``cpu``.

    A dry run (:func:`dry_run`) is always the ``gpu`` profile.
    """
    requested = os.environ.get(PROFILE_VARIABLE, "").strip().lower()
    if dry_run():
        if requested not in ("", "gpu"):
            raise ValueError(f"{DRY_RUN_VARIABLE} runs the gpu profile, but {PROFILE_VARIABLE}={requested!r}")
        return "gpu"
    if requested:
        if requested not in PROFILES:
            raise ValueError(f"{PROFILE_VARIABLE} must be one of {PROFILES}, got {requested!r}")
        return requested
    return "gpu" if device().type == "cuda" else "cpu"


def sizes(cpu: T, gpu: T, dry: dict[str, Any] | None = None) -> T:
    """Pick a chapter's sizes for the active profile: ``sizes(cpu=dict(n=512), gpu=dict(n=65536))``.

    ``dry`` lowers the gpu entries that only set how long a run lasts (``dry=dict(steps=2, seeds=[0])``), and the
    few gpu shapes that alone take minutes on a CPU (the longest timing sweeps); a dry run (:func:`dry_run`) takes
    the gpu sizes with these entries replaced, so the gpu profile's code paths, keys and other shapes run, in a
    fraction of its time. It may only name entries that ``gpu`` has.
    """
    if dry is not None:
        if not isinstance(gpu, dict) or not isinstance(dry, dict):
            raise ValueError(f"dry replaces entries of a gpu dict, got gpu={type(gpu).__name__}, "
                             f"dry={type(dry).__name__}")
        unknown = sorted(set(dry) - set(gpu))
        if unknown:
            raise ValueError(f"dry names {unknown}, which the gpu sizes do not have")
    if profile() != "gpu":
        return cpu
    return {**gpu, **dry} if dry_run() and dry else gpu


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch, and return a CPU ``torch.Generator`` seeded the same way.

    Same seed, same numbers: chapters draw their randomness from the returned generator (or from
    :func:`generator`) rather than from global state wherever they can.
    """
    seed = check_seed("seed", seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return generator(seed)


def generator(seed: int, on: torch.device | str | None = None) -> torch.Generator:
    """A fresh ``torch.Generator`` for ``seed`` on device ``on`` (CPU by default).

    ``seed`` is an integer in ``[0, 2^63 - 1]`` (:func:`~simple_algebra.core.validation.check_seed`, the one rule for
    every seed of the package); ``on`` must be a device that exists here.
    """
    seed = check_seed("seed", seed)
    made = torch.Generator(device=check_device("on", on) if on is not None else "cpu")
    made.manual_seed(seed)
    return made


def describe() -> dict[str, Any]:
    """A one-line summary for the top of a chapter: device, profile, torch version."""
    return {"device": str(device()), "profile": profile(), "torch": torch.__version__}


QUIET_VARIABLE = "SIMPLE_ALGEBRA_QUIET"


def quiet() -> bool:
    """True when progress bars should stay silent: ``$SIMPLE_ALGEBRA_QUIET`` is set (tests and book builds)."""
    return os.environ.get(QUIET_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


def progress(iterable: Any, **options: Any) -> Any:
    """Wrap a long loop in a ``tqdm.auto`` progress bar that is silent in tests and book builds."""
    from tqdm.auto import tqdm

    try:
        iter(iterable)
    except TypeError as error:
        raise ValueError(f"progress needs an iterable (a range, a list), got {type(iterable).__name__}") from error
    return tqdm(iterable, disable=quiet(), **options)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one CPU thread inside the ``with`` block, then restore the previous thread count.

    Sweeps of many small (n x m) operations gain nothing from intra-op threads, and on a busy two-core machine
    the threads spin-wait on each other: the Part I sweeps ran ten to a hundred times slower with two threads.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
