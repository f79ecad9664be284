"""jaxviz: explain and visualize JAX and Flax neural networks in Jupyter."""

from . import zoo as zoo
