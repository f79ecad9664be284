"""Extract the zoo's shipped datasets from scikit-learn and scikit-image.

Run once by a maintainer (``python -m jaxviz.zoo.build_data``); the npz files it writes under
``jaxviz/zoo/data/`` ship in the wheel, so at run time jaxviz imports neither library and
downloads nothing. Splits are stratified with a fixed seed; the outputs are plain arrays
(``allow_pickle=False`` safe).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

DATA_DIR = Path(__file__).parent / "data"
PHOTO_SIZE = 224
TEST_FRACTION = 0.2
SPLIT_SEED = 0


def _split(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_FRACTION, stratify=y, random_state=SPLIT_SEED
    )
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def digits_arrays() -> dict[str, Any]:
    """8x8 grey digits as NHWC float32 in [0, 1] (the raw values are counts 0..16)."""
    from sklearn.datasets import load_digits

    bunch: Any = load_digits()  # a Bunch (the stubs also allow the return_X_y tuple)
    x = (bunch.data.reshape(-1, 8, 8, 1) / 16.0).astype(np.float32)
    arrays = _split(x, bunch.target.astype(np.int32))
    arrays["class_names"] = np.array([str(c) for c in bunch.target_names])
    return arrays


def breast_cancer_arrays() -> dict[str, Any]:
    """30 features standardized with the training split's mean and standard deviation."""
    from sklearn.datasets import load_breast_cancer

    bunch: Any = load_breast_cancer()
    arrays = _split(bunch.data.astype(np.float64), bunch.target.astype(np.int32))
    mean = arrays["x_train"].mean(axis=0)
    scale = arrays["x_train"].std(axis=0)
    for split in ("x_train", "x_test"):
        arrays[split] = ((arrays[split] - mean) / scale).astype(np.float32)
    arrays["class_names"] = np.array([str(c) for c in bunch.target_names])
    arrays["feature_names"] = np.array([str(f) for f in bunch.feature_names])
    return arrays


def photo_array(name: str, size: int = PHOTO_SIZE) -> np.ndarray:
    """A scikit-image sample photo, centre-cropped to a square and resized to size x size uint8."""
    import skimage.data
    from skimage.transform import resize

    image = np.asarray(getattr(skimage.data, name)())
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[top : top + side, left : left + side, :3]
    small = np.asarray(
        resize(square, (size, size), order=1, anti_aliasing=True, preserve_range=True)
    )
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


PHOTOS = ("astronaut", "chelsea", "coffee")


def build(out_dir: Path = DATA_DIR) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, arrays in (("digits", digits_arrays()), ("breast_cancer", breast_cancer_arrays())):
        path = out_dir / f"{name}.npz"
        np.savez_compressed(path, **arrays)
        written.append(path)
    path = out_dir / "photos.npz"
    photos: dict[str, Any] = {name: photo_array(name) for name in PHOTOS}
    np.savez_compressed(path, **photos)
    written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output folder")
    for path in build(parser.parse_args().out):
        print(f"{path}: {path.stat().st_size / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
