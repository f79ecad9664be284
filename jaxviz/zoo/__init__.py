"""Offline datasets and small pretrained models for classrooms: ``jv.zoo.load("digits-cnn")``.

Everything ships inside the package; nothing is downloaded at run time. The weights were made
by ``python -m jaxviz.zoo.train NAME`` and the npz data by ``python -m jaxviz.zoo.build_data``.
"""

from ._data import Dataset as Dataset
from ._data import dataset as dataset
from ._data import photo as photo
from ._pretrained import load as load
from ._pretrained import names as names
from ._sequences import make_sequences as make_sequences
from ._shapes import SHAPE_NAMES as SHAPE_NAMES
from ._shapes import make_shapes as make_shapes
