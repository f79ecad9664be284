"""The classroom zoo: offline datasets, shipped models, the training script that made them."""

from __future__ import annotations

import functools
import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import serialization

import jaxviz as jv
from jaxviz.zoo import _pretrained, _shapes, train

MIN_ACCURACY = {
    "digits-cnn": 0.97,
    "shapes-cnn": 0.95,
    "cancer-mlp": 0.95,
    "sentiment-transformer": 0.97,
    "sentiment-lstm": 0.97,
    "lookup-transformer": 0.97,
}
# The autoencoders, tested in tests/test_latent_zoo.py (reconstruction error, perplexity).
AUTOENCODERS = {"digits-vae", "digits-vae-8", "digits-vqvae"}
GENERATIVE = {"ring-gan"}  # tests/test_gan.py checks its mode coverage
REPO = Path(__file__).resolve().parents[1]


def accuracy(model, x, y) -> float:
    return float(np.mean(np.asarray(model(x)).argmax(-1) == y))


def test_names_lists_every_model_dataset_and_photo_with_a_description():
    listings = {kind: jv.zoo.names(kind) for kind in ("models", "datasets", "photos")}
    assert jv.zoo.names() == listings["models"]
    assert set(listings["models"]) == set(MIN_ACCURACY) | AUTOENCODERS | GENERATIVE
    datasets = {"digits", "breast-cancer", "shapes", "sentiment-toy", "lookup", "ring"}
    assert set(listings["datasets"]) == datasets
    assert set(listings["photos"]) == {"astronaut", "chelsea", "coffee"}
    for listing in listings.values():
        assert all(isinstance(d, str) and d for d in listing.values())
    assert jv.zoo.dataset("shapes").description == listings["datasets"]["shapes"]
    with pytest.raises(ValueError, match="kind must be one of.*got 'model'"):
        jv.zoo.names("model")


@pytest.mark.parametrize(
    "call, bad",
    [(jv.zoo.load, "digits"), (jv.zoo.dataset, "mnist"), (jv.zoo.photo, "lena"), (jv.zoo.load, 3)],
)
def test_unknown_name_error_lists_the_valid_ones(call, bad):
    with pytest.raises(ValueError, match=repr(bad)) as info:
        call(bad)
    valid = {
        jv.zoo.load: MIN_ACCURACY,
        jv.zoo.dataset: ("digits", "breast-cancer", "shapes"),
        jv.zoo.photo: ("astronaut", "chelsea", "coffee"),
    }[call]
    assert all(name in str(info.value) for name in valid)


@pytest.mark.parametrize("name", sorted(MIN_ACCURACY))
def test_shipped_model_accuracy_on_its_test_split(name):
    model, data = jv.zoo.load(name)
    acc = accuracy(model, data.x_test, data.y_test)
    assert acc >= MIN_ACCURACY[name]
    assert acc == pytest.approx(_pretrained.manifest()[name]["test_accuracy"], abs=1e-9)


def test_shipped_weights_are_small_safe_and_match_the_manifest():
    manifest = _pretrained.manifest()
    assert set(manifest) == set(MIN_ACCURACY) | AUTOENCODERS | GENERATIVE
    total = 0
    for name, record in manifest.items():
        blob = _pretrained.weights_path(name).read_bytes()
        total += len(blob)
        assert hashlib.sha256(blob).hexdigest() == record["sha256"], f"{name}: stale manifest"
        leaves = jax.tree.leaves(serialization.msgpack_restore(blob))
        assert leaves and all(isinstance(leaf, np.ndarray) for leaf in leaves)
    assert total < 10 * 2**20


def test_models_expose_their_layers_by_attribute_name():
    model, data = jv.zoo.load("shapes-cnn")
    assert model.layers == ("conv1", "conv2", "conv3", "conv4", "fc")
    # Grad-CAM can only localize if the last conv keeps a spatial grid
    assert model.layer_shapes(data.x_test[:1])["conv4"].shape[1:3] == (16, 16)
    assert jv.zoo.load("digits-cnn")[0].layers == ("conv1", "conv2", "fc1", "fc2")
    assert jv.zoo.load("cancer-mlp")[0].layers == ("fc1", "fc2", "fc3")


def _without_network() -> list[str]:
    """A command prefix that runs a program in an empty network namespace, where allowed."""
    try:
        ok = subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0
    except FileNotFoundError:
        ok = False
    return ["unshare", "-n"] if ok else []


def test_everything_loads_with_the_network_unavailable():
    """A fresh interpreter, with no network and every socket refused, loads the whole zoo."""
    script = textwrap.dedent(
        """
        import socket

        class Refused(socket.socket):
            def __init__(self, *args, **kwargs):
                raise OSError("network disabled by test_zoo")

        def refuse(*args, **kwargs):
            raise OSError("network disabled by test_zoo")

        socket.socket = Refused
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        import numpy as np
        import jaxviz as jv

        for name in jv.zoo.names():
            model, data = jv.zoo.load(name)
            assert np.isfinite(np.asarray(model(data.x_test[:4]))).all()
        for name in ("digits", "breast-cancer", "shapes", "sentiment-toy", "lookup"):
            jv.zoo.dataset(name)
        for name in ("astronaut", "chelsea", "coffee"):
            jv.zoo.photo(name)
        print("offline ok")
        """
    )
    done = subprocess.run(
        [*_without_network(), sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "offline ok" in done.stdout


@pytest.mark.parametrize(
    "name, x_shape, n_test, classes",
    [
        ("digits", (8, 8, 1), 360, 10),
        ("breast-cancer", (30,), 114, 2),
        ("shapes", (32, 32, 3), 1000, 4),
    ],
)
def test_dataset_shapes_dtypes_and_ranges(name, x_shape, n_test, classes):
    data = jv.zoo.dataset(name)
    assert data.x_train.shape[1:] == data.x_test.shape[1:] == x_shape
    assert len(data.x_test) == len(data.y_test) == n_test
    assert len(data.x_train) == len(data.y_train) > 3 * n_test
    assert data.x_train.dtype == data.x_test.dtype == np.float32
    assert data.y_train.dtype == data.y_test.dtype == np.int32
    assert len(data.class_names) == classes
    for y in (data.y_train, data.y_test):
        assert set(np.unique(y)) == set(range(classes))  # every class in both splits
    if len(x_shape) == 3:
        assert data.x_train.min() >= 0.0 and data.x_train.max() <= 1.0
        assert data.x_train.max() > 0.9  # not accidentally left in 0..16 or shrunk
    with pytest.raises(ValueError, match="read-only"):
        data.x_train[0] = 0.0  # the cached arrays are shared by every caller


def test_breast_cancer_is_standardized_with_its_training_split_and_named():
    data = jv.zoo.dataset("breast-cancer")
    np.testing.assert_allclose(data.x_train.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(data.x_train.std(0), 1.0, atol=1e-4)
    assert not np.allclose(data.x_test.mean(0), 0.0, atol=1e-3)  # test split not refitted
    assert len(data.feature_names) == 30 and data.feature_names[0] == "mean radius"
    assert data.class_names == ("malignant", "benign")
    assert data.masks_test is None


def test_digits_and_splits_agree_with_scikit_learn():
    from sklearn.datasets import load_digits

    data = jv.zoo.dataset("digits")
    raw = load_digits()
    ours = np.concatenate([data.x_train, data.x_test]).reshape(-1, 64) * 16
    assert len(ours) == len(raw.data)
    # the same multiset of images, split without overlap (digits holds a few exact duplicates)
    assert sorted(map(bytes, ours.astype(np.uint8))) == sorted(
        map(bytes, raw.data.astype(np.uint8))
    )
    train_rows = {bytes(r) for r in data.x_train.reshape(len(data.x_train), -1)}
    leaked = sum(bytes(r) in train_rows for r in data.x_test.reshape(len(data.x_test), -1))
    assert leaked <= 5  # digits has a handful of exact duplicate images; a bad split leaks ~20%


def test_photos_are_distinct_rgb_images_in_unit_range():
    photos = {name: jv.zoo.photo(name) for name in ("astronaut", "chelsea", "coffee")}
    for image in photos.values():
        assert image.shape == (224, 224, 3) and image.dtype == np.float32
        assert image.min() >= 0.0 and image.max() <= 1.0 and image.std() > 0.1
    assert not np.allclose(photos["chelsea"], photos["coffee"], atol=0.1)


def test_photo_is_chelsea_resized():
    """The shipped photo is the scikit-image one, centre-cropped and downsampled, not some other."""
    import skimage.data
    from skimage.transform import resize

    cat = skimage.data.chelsea().astype(np.float32) / 255
    side = min(cat.shape[:2])
    left = (cat.shape[1] - side) // 2
    reference = resize(cat[:, left : left + side], (224, 224), anti_aliasing=True)
    assert np.abs(jv.zoo.photo("chelsea") - reference).mean() < 0.01


def _reference_mask(label: int, cx: float, cy: float, s: float) -> np.ndarray:
    """The same shape rasterized by scikit-image (pixel (r, c) centred at (r + 0.5, c + 0.5))."""
    from skimage.draw import disk, polygon

    mask = np.zeros((32, 32), bool)
    x, y = cx - 0.5, cy - 0.5  # to skimage's convention: pixel (r, c) centred at (r, c)
    if label == 0:
        mask[disk((y, x), s, shape=mask.shape)] = True
    elif label == 1:
        mask[polygon([y - s, y - s, y + s, y + s], [x - s, x + s, x + s, x - s], mask.shape)] = True
    elif label == 2:
        mask[polygon([y - s, y + s, y + s], [x, x + s, x - s], mask.shape)] = True
    else:
        a = max(s / 3, 1.5)
        mask[polygon([y - a, y - a, y + a, y + a], [x - s, x + s, x + s, x - s], mask.shape)] = True
        mask[polygon([y - s, y - s, y + s, y + s], [x - a, x + a, x + a, x - a], mask.shape)] = True
    return mask


def _area(label: int, s: float) -> float:
    a = max(s / 3, 1.5)
    return [np.pi * s * s, 4 * s * s, 2 * s * s, 8 * s * a - 4 * a * a][label]


def test_every_shapes_mask_covers_exactly_its_shape():
    images, masks, params = _shapes.generate(jax.random.key(7), 300)
    images, masks = np.asarray(images), np.asarray(masks)
    params = {k: np.asarray(v) for k, v in params.items()}
    for i in range(len(masks)):
        label, cx, cy, s = (params[k][i] for k in ("label", "cx", "cy", "s"))
        reference = _reference_mask(int(label), cx, cy, s)
        iou = (masks[i] & reference).sum() / (masks[i] | reference).sum()
        assert iou > 0.9, (i, int(label), iou)
        assert 0.8 < masks[i].sum() / _area(int(label), s) < 1.2
        # nothing on the border: the whole shape is in the picture
        assert not (
            masks[i][0].any() or masks[i][-1].any() or masks[i][:, 0].any() or masks[i][:, -1].any()
        )
        # the pixels under the mask have the shape's colour, the others the background's
        inside, outside = images[i][masks[i]].mean(0), images[i][~masks[i]].mean(0)
        assert np.abs(inside - params["fg"][i]).max() < 0.06
        assert np.abs(outside - params["bg"][i]).max() < 0.06
        assert np.linalg.norm(params["fg"][i] - params["bg"][i]) >= _shapes.MIN_CONTRAST - 1e-6


def test_shapes_are_bit_deterministic_under_a_key():
    a = jv.zoo.make_shapes(64, key=jax.random.key(3))
    b = jv.zoo.make_shapes(64, key=jax.random.key(3))
    c = jv.zoo.make_shapes(64, key=jax.random.key(4))
    for left, right in zip(a, b):
        assert left.tobytes() == right.tobytes()
    assert not np.array_equal(a[0], c[0])
    assert np.bincount(c[1], minlength=4).min() > 5  # all four classes drawn


def test_shapes_dataset_is_generated_from_fixed_keys():
    data = jv.zoo.dataset("shapes")
    x, y, masks = jv.zoo.make_shapes(1000, key=jax.random.key(1, impl="threefry2x32"))
    assert x.tobytes() == data.x_test.tobytes() and np.array_equal(y, data.y_test)
    assert np.array_equal(masks, data.masks_test)
    assert data.masks_train.shape == data.x_train.shape[:3]


def test_make_shapes_rejects_a_bad_count_or_key():
    with pytest.raises(ValueError, match="n must be a positive int, got 0"):
        jv.zoo.make_shapes(0, key=jax.random.key(0))
    with pytest.raises(TypeError, match="key must be one jax.random key.*got 0"):
        jv.zoo.make_shapes(4, key=0)
    with pytest.raises(TypeError, match="key must be one jax.random key"):
        jv.zoo.make_shapes(4, key=jax.random.split(jax.random.key(0)))


def test_gradcam_on_shapes_cnn_concentrates_on_the_shapes():
    """Grad-CAM at conv4 (the last conv) puts most of its mass inside the shape's exact mask for
    most test images, far more than the shape's share of the image (what a map blind to the
    shape, e.g. a uniform one, would put there), and its hottest pixel is usually on the shape
    (chance: the shape's area, 16% on average). See ShapesCNN for why it localizes."""
    model, data = jv.zoo.load("shapes-cnn")
    masks = data.masks_test
    cam = np.asarray(jv.gradcam(model, data.x_test, target=data.y_test, layer="conv4"))
    inside = (cam * masks).sum((1, 2)) / np.maximum(cam.sum((1, 2)), 1e-12)
    area = masks.mean((1, 2))
    assert area.mean() < 0.2
    assert np.mean(inside > 0.5) > 0.8  # measured 0.96 (median share 0.67, median area 0.15)
    for label in range(len(data.class_names)):  # circles 1.00, squares 0.86, triangles 1.00,
        assert np.mean(inside[data.y_test == label] > 0.5) > 0.7  # crosses 0.98
    assert np.median(inside / area) > 3.0  # measured 4.8
    hottest = cam.reshape(len(cam), -1).argmax(1)
    assert masks.reshape(len(masks), -1)[np.arange(len(masks)), hottest].mean() > 0.65  # 0.77


def test_training_is_deterministic():
    first = _pretrained.weights_bytes(train.train("cancer-mlp", epochs=2))
    second = _pretrained.weights_bytes(train.train("cancer-mlp", epochs=2))
    assert first == second


@functools.cache
def _retrained(name: str):
    return train.train(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MIN_ACCURACY))
def test_retraining_reproduces_the_shipped_accuracy(name):
    data = jv.zoo.dataset(_pretrained.MODELS[name].dataset)
    acc = train.accuracy(_retrained(name), data.x_test, data.y_test)
    assert acc >= MIN_ACCURACY[name]
    assert acc == pytest.approx(_pretrained.manifest()[name]["test_accuracy"], abs=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MIN_ACCURACY))
def test_retraining_reproduces_the_shipped_weights_bit_for_bit(name):
    record = _pretrained.manifest()[name]
    if record["machine"] != train.machine_fingerprint():
        pytest.skip(f"weights were trained on {record['machine']!r}, not this machine")
    blob = _pretrained.weights_bytes(_retrained(name))
    assert hashlib.sha256(blob).hexdigest() == record["sha256"]
