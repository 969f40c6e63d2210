"""Property tests of the validation module: each check accepts what it promises and refuses the rest, by name."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from simple_algebra.core import validation as v
from tests.properties import bad_integers, bad_reals, bad_tensors, covers, refuses, tensors


@covers(v.check_int, v.check_seed, v.check_degree, v.check_rank, v.check_steps)
@given(st.integers(-10**6, 10**6), st.integers(-100, 100), st.integers(0, 100), bad_integers)
def test_integer_checks_accept_the_range_and_name_the_rest(value, low, span, bad):
    high = low + span
    if low <= value <= high:
        assert v.check_int("width", value, low, high) == value
    else:
        refuses(v.check_int, "width", value, low, high, argument="width", shows=str(value))
    bad_value, shown = bad
    if not isinstance(bad_value, int) or isinstance(bad_value, bool):
        refuses(v.check_int, "width", bad_value, 0, argument="width", shows=shown)
    assert v.check_seed("seed", abs(value)) == abs(value)
    refuses(v.check_seed, "seed", -1 - abs(value), argument="seed", shows=str(-1 - abs(value)))
    refuses(v.check_seed, "seed", 2**63, argument="seed", shows=str(2**63))
    refuses(v.check_degree, "degree", v.MAX_DEGREE + 1 + abs(value), argument="degree")
    assert v.check_rank("rank", 1 + span, high=1 + span) == 1 + span
    refuses(v.check_rank, "rank", 2 + span, high=1 + span, argument="rank", shows=str(2 + span))
    refuses(v.check_steps, "steps", v.MAX_STEPS + 1, argument="steps", shows=str(v.MAX_STEPS + 1))


@covers(v.check_real)
@given(st.floats(-1e6, 1e6), st.floats(-10, 10), st.floats(0, 10), bad_reals)
def test_real_checks_respect_both_bounds_and_their_inclusiveness(value, low, span, bad):
    high = low + span
    inside = low <= value <= high
    if inside:
        assert v.check_real("lr", value, low, high) == value
    else:
        refuses(v.check_real, "lr", value, low, high, argument="lr")
    refuses(v.check_real, "lr", low, low, None, low_inclusive=False, argument="lr")
    refuses(v.check_real, "lr", high, None, high, high_inclusive=False, argument="lr")
    refuses(v.check_real, "lr", bad[0], argument="lr", shows=bad[1])


@covers(v.check_choice)
@given(st.sampled_from(["exact", "approximate", "uniform", "Exact", "", 3, None]))
def test_choice_is_one_of_the_options(value):
    options = ("exact", "approximate", "uniform")
    if value in options:
        assert v.check_choice("scores", value, options) == value
    else:
        refuses(v.check_choice, "scores", value, options, argument="scores", shows=repr(value))


@covers(v.check_finite_tensor, v.check_shape, v.check_tall_matrix)
@given(tensors(5, 3), bad_tensors(5, 3))
def test_tensor_checks_accept_finite_floating_tensors_and_name_bad_ones(good, bad):
    assert v.check_finite_tensor("X", good, ndim=2) is good
    assert v.check_shape("X", good, (5, None)) is good
    assert v.check_tall_matrix("X", good) is good
    refuses(v.check_shape, "X", good, (5, 4), argument="X", shows="(5, 3)")
    refuses(v.check_tall_matrix, "X", good.T, argument="X", shows="(3, 5)")
    tensor, shown = bad
    refuses(v.check_shape, "X", tensor, (5, 3), argument="X", shows=shown)
    # Inside torch.func transforms (a module's forward under empirical_ntk) the values cannot be read: the check
    # must not break the transform, and still refuses what it can see (the dimensions).
    assert torch.equal(torch.func.vmap(lambda row: v.check_finite_tensor("x", row, ndim=1) * 2)(good), good * 2)
    refuses(torch.func.vmap(lambda row: v.check_finite_tensor("x", row, ndim=2)), good, argument="x", shows="(3,)")


@covers(v.check_same_kind)
@given(tensors(3), st.sampled_from([torch.float32, torch.float64, torch.float16]))
def test_same_kind_refuses_mixed_dtypes(x, dtype):
    y = x.to(dtype)
    if dtype == x.dtype:
        v.check_same_kind(x=x, y=y, z=None)
    else:
        refuses(v.check_same_kind, x=x, y=y, argument="y", shows=str(dtype))


@covers(v.check_gradient)
@given(tensors(4), st.sampled_from([math.nan, math.inf, -math.inf]))
def test_gradient_check_stops_a_step_on_nan(gradient, bad):
    assert v.check_gradient("grad", gradient) is gradient and v.check_gradient("grad", None) is None
    broken = gradient.clone()
    broken[2] = bad
    refuses(v.check_gradient, "grad", broken, argument="grad", shows="NaN or inf")


@covers(v.check_allocation, v.memory_budget)
@given(st.integers(1, 4096), st.sampled_from([10**6, 10**9, 10**12]))
def test_allocation_is_refused_before_the_allocator_sees_it(n, big):
    budget = v.memory_budget()
    assert budget > 2**20
    v.check_allocation("an n x n matrix", (n, n))
    if big * big * 8 > budget:
        message = refuses(v.check_allocation, f"an n x n matrix for n = {big}", (big, big),
                          argument=f"n = {big}", shows="GiB")
        assert v.BUDGET_VARIABLE in message


@covers(v.check_device)
@given(st.sampled_from(["cpu", "cuda", "cuda:7", "gpu", "tpu:0", 3.5]))
def test_device_check_refuses_devices_that_are_not_here(value):
    assert v.check_device("device", None) is None  # the default device
    if value == "cpu":
        assert v.check_device("device", value) == torch.device("cpu")
    elif isinstance(value, str) and value.startswith("cuda") and torch.cuda.is_available() and \
            torch.device(value).index in (None, *range(torch.cuda.device_count())):
        assert v.check_device("device", value).type == "cuda"
    else:
        refuses(v.check_device, "device", value, argument="device")


@covers(v.check_index_tensor)
@given(st.integers(1, 50), st.integers(-3, 60), st.sampled_from([torch.long, torch.int32, torch.float64, torch.bool]))
def test_index_tensors_are_integer_and_in_range(size, entry, dtype):
    indices = torch.tensor([0, entry], dtype=dtype) if dtype != torch.bool else torch.tensor([True, False])
    if dtype in (torch.long, torch.int32) and 0 <= entry < size:
        assert v.check_index_tensor("rows", indices, size) is indices
    elif dtype in (torch.long, torch.int32):
        refuses(v.check_index_tensor, "rows", indices, size, argument="rows", shows=str(entry))
    else:
        refuses(v.check_index_tensor, "rows", indices, size, argument="rows", shows=str(dtype))
    refuses(v.check_index_tensor, "rows", torch.zeros(2, 2, dtype=torch.long), size, argument="rows", shows="(2, 2)")


@covers(v.check_float_dtype)
@given(st.sampled_from([torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.long, torch.bool,
                        torch.complex64, "float64", float]))
def test_dtype_arguments_are_real_floating(dtype):
    if isinstance(dtype, torch.dtype) and dtype.is_floating_point:
        assert v.check_float_dtype("dtype", dtype) is dtype
    else:
        refuses(v.check_float_dtype, "dtype", dtype, argument="dtype", shows=repr(dtype))
