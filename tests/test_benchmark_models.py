"""The benchmarks' ResNet-18 twins and the accelerator comparison, checked on the CPU so that a
session with a GPU can trust them (benchmarks/_resnet.py, benchmarks/bench_gpu.py)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import jaxviz as jv
from benchmarks import bench_gpu
from benchmarks._resnet import ResNet18, torch_twin
from benchmarks._twins import to_torch
from jaxviz.explain import _affine


@pytest.fixture(scope="module")
def resnet():
    return ResNet18(seed=0)


def test_resnet18_twins_compute_the_same_logits(resnet):
    x = jax.random.normal(jax.random.key(0), (2, 64, 64, 3))
    ours = np.asarray(jv.wrap(resnet)(x))
    theirs = torch_twin(resnet)(to_torch(x)).detach().numpy()
    assert ours.shape == (2, 1000)
    np.testing.assert_allclose(ours, theirs, atol=1e-4 * np.abs(ours).max())


def test_resnet18s_affine_start_runs_through_its_first_batch_norm(resnet):
    m = jv.wrap(resnet)
    x = jax.random.normal(jax.random.key(1), (2, 64, 64, 3))
    split = _affine.split(m.apply, m.params, x)
    (frontier,) = split.prefix(x)
    np.testing.assert_allclose(
        frontier, jv.activations(m, x, layers=["bn1"])["bn1"], rtol=1e-4, atol=1e-4
    )


@pytest.mark.slow
def test_the_gpu_comparison_runs_end_to_end_on_a_small_cpu_batch():
    found = bench_gpu.measure(device="cpu", batch=2, side=32, repeats=1, min_sample_s=0.0)
    assert [row["method"] for row in found["rows"]] == [
        "saliency",
        "IG 32 steps",
        "SmoothGrad 32",
        "Grad-CAM",
        "occlusion",
    ]
    assert all(row["jaxviz"] > 0 and row["captum"] > 0 for row in found["rows"])
