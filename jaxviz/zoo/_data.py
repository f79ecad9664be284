"""The zoo's datasets and photos: read from the npz files shipped in the package, or generated."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

from ..latent._gan import ring_dataset_arrays
from ._sequences import (
    LOOKUP_VALUES,
    LOOKUP_VOCABULARY,
    SENTIMENT_CLASSES,
    SENTIMENT_VOCABULARY,
    make_sequences,
)
from ._shapes import SHAPE_NAMES, make_shapes

DATA_DIR = Path(__file__).parent / "data"
SHAPES_TRAIN_SIZE = 6000
SHAPES_TEST_SIZE = 1000
SHAPES_TRAIN_SEED = 0
SHAPES_TEST_SEED = 1
SEQUENCE_SIZES = {"sentiment-toy": (4000, 1000), "lookup": (8000, 1000)}  # (train, test)


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset with fixed train and test splits. Its arrays are read-only numpy arrays.

    Attributes:
      name: the name it is loaded by (``jv.zoo.dataset(name)``).
      description: one line saying what it holds and how it was prepared.
      x_train, y_train, x_test, y_test: inputs (float32, images NHWC; int32 token ids
        (n, length) for sequences) and int32 labels.
      class_names: the name of each class, indexed by label.
      feature_names: the name of each input feature for tabular data, else None.
      masks_train, masks_test: where the ground truth is known, else None: bool (n, height,
        width), True on the object's pixels (``shapes``), or bool (n, length), True on the
        evidence tokens the label depends on (``sentiment-toy``, ``lookup``).
      vocabulary: for token datasets, the word of each token id, else None.
    """

    name: str
    description: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    feature_names: tuple[str, ...] | None = None
    masks_train: np.ndarray | None = None
    masks_test: np.ndarray | None = None
    vocabulary: tuple[str, ...] | None = None

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, np.ndarray):
                value.flags.writeable = False  # shared by every caller through the cache

    def __repr__(self) -> str:
        parts = [f"x_train={self.x_train.shape}", f"x_test={self.x_test.shape}"]
        parts.append(f"class_names={self.class_names}")
        if self.feature_names is not None:
            parts.append(f"feature_names=({len(self.feature_names)} names)")
        if self.masks_test is not None:
            parts.append("masks_train, masks_test")
        if self.vocabulary is not None:
            parts.append(f"vocabulary=({len(self.vocabulary)} tokens)")
        return f"Dataset({self.name!r}, {', '.join(parts)})"


def _load_npz(filename: str) -> dict[str, np.ndarray]:
    with np.load(DATA_DIR / filename, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def _split(arrays: dict[str, np.ndarray]) -> dict:
    """The fixed train/test split and class names every shipped dataset file holds."""
    return dict(
        x_train=arrays["x_train"],
        y_train=arrays["y_train"],
        x_test=arrays["x_test"],
        y_test=arrays["y_test"],
        class_names=tuple(arrays["class_names"].tolist()),
    )


def _digits() -> dict:
    return _split(_load_npz("digits.npz"))


def _breast_cancer() -> dict:
    arrays = _load_npz("breast_cancer.npz")
    return dict(_split(arrays), feature_names=tuple(arrays["feature_names"].tolist()))


def _shapes() -> dict:
    def split(n: int, seed: int):
        return make_shapes(n, key=jax.random.key(seed, impl="threefry2x32"))

    x_train, y_train, masks_train = split(SHAPES_TRAIN_SIZE, SHAPES_TRAIN_SEED)
    x_test, y_test, masks_test = split(SHAPES_TEST_SIZE, SHAPES_TEST_SEED)
    return dict(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=SHAPE_NAMES,
        masks_train=masks_train,
        masks_test=masks_test,
    )


def _sequences(task: str, vocabulary: tuple[str, ...], class_names: tuple[str, ...]) -> dict:
    train_size, test_size = SEQUENCE_SIZES[task]
    # the same seeds as shapes: train and test are two independent draws
    x_train, y_train, masks_train = make_sequences(
        task, train_size, key=jax.random.key(SHAPES_TRAIN_SEED, impl="threefry2x32")
    )
    x_test, y_test, masks_test = make_sequences(
        task, test_size, key=jax.random.key(SHAPES_TEST_SEED, impl="threefry2x32")
    )
    return dict(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=class_names,
        masks_train=masks_train,
        masks_test=masks_test,
        vocabulary=vocabulary,
    )


DATASETS: dict[str, tuple[str, Callable[[], dict]]] = {
    "digits": ("scikit-learn's 8x8 handwritten digits in [0, 1], 10 classes", _digits),
    "breast-cancer": (
        "scikit-learn's Wisconsin breast cancer: 30 named features standardized with the "
        "training split's mean and std, 2 classes",
        _breast_cancer,
    ),
    "shapes": (
        "procedural 32x32 RGB circles, squares, triangles and crosses on noisy backgrounds, "
        "with each shape's ground-truth mask",
        _shapes,
    ),
    "sentiment-toy": (
        "procedural sentences of fillers around one or two sentiment phrases ('not very good'), "
        "2 classes, with each sentence's evidence tokens (sentiment words and their negators)",
        functools.partial(_sequences, "sentiment-toy", SENTIMENT_VOCABULARY, SENTIMENT_CLASSES),
    ),
    "ring": (
        "2-D points from 8 Gaussians on a circle of radius 2 (std 0.05), labelled by mode, for "
        "GANs (jaxviz.latent._gan)",
        ring_dataset_arrays,
    ),
    "lookup": (
        "procedural key-value retrieval 'a 3 b 7 c 1 d 5 ? b' -> 7, 10 classes, with the position "
        "of the value the answer reads",
        functools.partial(_sequences, "lookup", LOOKUP_VOCABULARY, LOOKUP_VALUES),
    ),
}

PHOTOS: dict[str, str] = {
    "astronaut": "Eileen Collins, NASA portrait (scikit-image), 224x224 RGB",
    "chelsea": "Chelsea the cat (scikit-image), 224x224 RGB",
    "coffee": "a cup of coffee (scikit-image), 224x224 RGB",
}


def _check_name(kind: str, name: object, valid: dict) -> str:
    if not isinstance(name, str) or name not in valid:
        raise ValueError(f"{kind}: unknown name {name!r}; valid names are {sorted(valid)}")
    return name


@functools.cache
def dataset(name: str) -> Dataset:
    """A zoo dataset, offline, with fixed train/test splits.

    Args:
      name: ``"digits"`` (8x8x1 images in [0, 1], 10 classes), ``"breast-cancer"`` (30
        standardized named features, 2 classes), ``"shapes"`` (32x32x3 images of 4 shapes with
        ground-truth masks, generated from a fixed key; see :func:`make_shapes` for more), or
        the token datasets ``"sentiment-toy"`` and ``"lookup"`` (int32 token ids with evidence
        masks and a vocabulary, generated from a fixed key; see :func:`make_sequences`).

    Returns:
      A :class:`Dataset`; the same (cached, read-only) object on every call.

    >>> import jaxviz as jv
    >>> jv.zoo.dataset("digits").x_test.shape
    (360, 8, 8, 1)
    """
    description, build = DATASETS[_check_name("dataset", name, DATASETS)]
    return Dataset(name=name, description=description, **build())


@functools.cache
def photo(name: str) -> np.ndarray:
    """A real photograph shipped with the package, for image-level views.

    Args:
      name: ``"astronaut"``, ``"chelsea"`` or ``"coffee"`` (scikit-image's sample photos,
        centre-cropped to a square and resized).

    Returns:
      A read-only float32 array (224, 224, 3) in [0, 1]; ``photo(name)[None]`` is a batch of one.

    >>> import jaxviz as jv
    >>> jv.zoo.photo("chelsea").shape
    (224, 224, 3)
    """
    name = _check_name("photo", name, PHOTOS)
    with np.load(DATA_DIR / "photos.npz", allow_pickle=False) as npz:
        image = npz[name].astype(np.float32) / 255.0
    image.flags.writeable = False
    return image
