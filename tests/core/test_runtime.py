import pytest
import torch

import simple_algebra as sa
from simple_algebra.core import runtime


def test_device_defaults_to_cuda_when_available(monkeypatch):
    monkeypatch.delenv(runtime.DEVICE_VARIABLE, raising=False)
    assert sa.device().type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_device_override_and_bad_values(monkeypatch):
    monkeypatch.setenv(runtime.DEVICE_VARIABLE, "cpu")
    assert sa.device() == torch.device("cpu")
    monkeypatch.setenv(runtime.DEVICE_VARIABLE, "not-a-device")
    with pytest.raises(ValueError, match="not a torch device"):
        sa.device()
    if not torch.cuda.is_available():
        monkeypatch.setenv(runtime.DEVICE_VARIABLE, "cuda")
        with pytest.raises(ValueError, match="no CUDA device"):
            sa.device()


def test_profile_follows_device_and_override(monkeypatch):
    monkeypatch.setenv(runtime.DEVICE_VARIABLE, "cpu")
    monkeypatch.delenv(runtime.PROFILE_VARIABLE, raising=False)
    assert sa.profile() == "cpu"
    assert sa.sizes(cpu=1, gpu=2) == 1
    monkeypatch.setenv(runtime.PROFILE_VARIABLE, "GPU")
    assert sa.profile() == "gpu"
    assert sa.sizes(cpu=1, gpu=2) == 2
    monkeypatch.setenv(runtime.PROFILE_VARIABLE, "huge")
    with pytest.raises(ValueError, match="must be one of"):
        sa.profile()


def test_same_seed_same_numbers():
    first = torch.rand(5, generator=sa.seed_everything(3))
    second = torch.rand(5, generator=sa.seed_everything(3))
    assert torch.equal(first, second)
    assert torch.equal(torch.rand(4, generator=sa.generator(9)), torch.rand(4, generator=sa.generator(9)))
    assert not torch.equal(torch.rand(4, generator=sa.generator(9)), torch.rand(4, generator=sa.generator(10)))


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_bad_seeds_raise(seed):
    with pytest.raises(ValueError, match="seed"):
        sa.seed_everything(seed)


def test_progress_is_quiet_when_asked(monkeypatch):
    monkeypatch.setenv(runtime.QUIET_VARIABLE, "1")
    bar = sa.progress(range(3))
    assert bar.disable and list(bar) == [0, 1, 2]
    monkeypatch.setenv(runtime.QUIET_VARIABLE, "0")
    assert not runtime.quiet()


def test_describe_names_device_and_profile(monkeypatch):
    monkeypatch.setenv(runtime.DEVICE_VARIABLE, "cpu")
    monkeypatch.delenv(runtime.PROFILE_VARIABLE, raising=False)
    assert sa.describe()["device"] == "cpu" and sa.describe()["profile"] == "cpu"


def test_one_thread_restores_the_thread_count_even_after_an_error():
    import torch

    from simple_algebra.core.runtime import one_thread

    before = torch.get_num_threads()
    with one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    try:
        with one_thread():
            raise RuntimeError("inside")
    except RuntimeError:
        pass
    assert torch.get_num_threads() == before


def test_dry_run_takes_gpu_shapes_with_the_short_counts(monkeypatch):
    monkeypatch.setenv(runtime.DEVICE_VARIABLE, "cpu")
    monkeypatch.delenv(runtime.PROFILE_VARIABLE, raising=False)
    cpu, gpu, dry = dict(n=8, steps=10), dict(n=4096, steps=5000), dict(steps=2)
    monkeypatch.delenv(runtime.DRY_RUN_VARIABLE, raising=False)
    assert sa.sizes(cpu=cpu, gpu=gpu, dry=dry) == cpu
    monkeypatch.setenv(runtime.PROFILE_VARIABLE, "gpu")
    assert sa.sizes(cpu=cpu, gpu=gpu, dry=dry) == gpu  # the real gpu profile ignores dry
    monkeypatch.setenv(runtime.DRY_RUN_VARIABLE, "1")
    assert sa.profile() == "gpu"
    assert sa.sizes(cpu=cpu, gpu=gpu, dry=dry) == dict(n=4096, steps=2)
    assert sa.sizes(cpu=cpu, gpu=gpu) == gpu
    monkeypatch.delenv(runtime.PROFILE_VARIABLE)
    assert sa.sizes(cpu=cpu, gpu=gpu, dry=dry) == dict(n=4096, steps=2)  # a dry run is the gpu profile
    monkeypatch.setenv(runtime.PROFILE_VARIABLE, "cpu")
    with pytest.raises(ValueError, match="SIMPLE_ALGEBRA_PROFILE='cpu'"):
        sa.sizes(cpu=cpu, gpu=gpu, dry=dry)


def test_dry_may_only_replace_gpu_entries(monkeypatch):
    monkeypatch.delenv(runtime.DRY_RUN_VARIABLE, raising=False)
    with pytest.raises(ValueError, match=r"dry names \['epochs'\]"):
        sa.sizes(cpu=dict(steps=1), gpu=dict(steps=2), dry=dict(epochs=1))
    with pytest.raises(ValueError, match="gpu=int"):
        sa.sizes(cpu=1, gpu=2, dry=dict(steps=1))
