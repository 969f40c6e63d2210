"""Property tests of the runtime: seeds follow the one seed rule, devices must exist, sizes follow the profile."""

import random

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.core import runtime
from tests.properties import bad_integers, covers, refuses, seeds


@covers(runtime.generator, runtime.seed_everything)
@given(seeds, st.sampled_from([-1, -2**40, 2**63, 2**64]), bad_integers)
def test_same_seed_same_numbers_and_every_bad_seed_is_refused_by_name(seed, out_of_range, bad):
    first = torch.rand(4, generator=runtime.generator(seed))
    assert torch.equal(first, torch.rand(4, generator=runtime.generator(seed)))
    drawn = runtime.seed_everything(seed)
    python, numpy, torch_global = random.random(), np.random.rand(), torch.rand(1)
    assert torch.equal(torch.rand(4, generator=drawn), first)
    runtime.seed_everything(seed)
    assert (random.random(), np.random.rand()) == (python, numpy) and torch.equal(torch.rand(1), torch_global)
    for function in (runtime.generator, runtime.seed_everything):
        refuses(function, out_of_range, argument="seed", shows=str(out_of_range))
        value, shown = bad
        if value != 0:  # 0 is a valid seed
            refuses(function, value, argument="seed", shows=shown)
    if not torch.cuda.is_available():
        refuses(runtime.generator, seed, "cuda", argument="on", shows="cuda")
    refuses(runtime.generator, seed, "gpu", argument="on", shows="gpu")


@covers(runtime.device, runtime.profile, runtime.sizes, runtime.describe, runtime.dry_run)
@given(st.sampled_from(["", "cpu", "cuda", "cuda:7", "tpu", "not-a-device"]), st.sampled_from(["", "cpu", "gpu", "GPU",
                                                                                             "fast"]))
def test_device_and_profile_follow_the_environment_and_refuse_what_is_not_here(requested, profile):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(runtime.DEVICE_VARIABLE, requested)
        patch.setenv(runtime.PROFILE_VARIABLE, profile)
        patch.delenv(runtime.DRY_RUN_VARIABLE, raising=False)
        assert not runtime.dry_run()
        cuda = requested.startswith("cuda")
        if requested in ("", "cpu") or (cuda and torch.cuda.is_available()
                                        and torch.device(requested).index in (None, *range(torch.cuda.device_count()))):
            chosen = runtime.device()
            assert chosen.type == (requested or ("cuda" if torch.cuda.is_available() else "cpu")).split(":")[0]
            if profile.lower() in ("", *runtime.PROFILES):
                expected = profile.lower() or ("gpu" if chosen.type == "cuda" else "cpu")
                assert runtime.profile() == expected
                assert runtime.sizes(cpu=1, gpu=2) == (2 if expected == "gpu" else 1)
                assert runtime.describe() == {"device": str(chosen), "profile": expected, "torch": torch.__version__}
            else:
                refuses(runtime.profile, argument=runtime.PROFILE_VARIABLE, shows=repr(profile.lower()))
        else:
            refuses(runtime.device, argument=runtime.DEVICE_VARIABLE, shows=requested)


@covers(runtime.quiet, runtime.progress, runtime.one_thread)
@given(st.sampled_from(["", "0", "false", "no", "1", "yes", "TRUE"]), st.integers(0, 20), st.integers(1, 4))
def test_progress_passes_every_item_and_one_thread_restores_the_count(flag, length, threads):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(runtime.QUIET_VARIABLE, flag)
        assert runtime.quiet() == (flag.lower() not in ("", "0", "false", "no"))
        assert list(runtime.progress(range(length))) == list(range(length))
    refuses(runtime.progress, length, argument="progress", shows="int")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with runtime.one_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(previous)
