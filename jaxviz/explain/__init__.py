"""The pure-JAX explanation core: no widgets, no matplotlib, no I/O.

Every method is a pure function `(model, x, target, *, options) -> jax.Array`, batched over the
first axis of `x`, compiled once per model and static options (see `_engine.py`).
"""

from ._cam import gradcam as gradcam
from ._cam import guided_gradcam as guided_gradcam
from ._gradients import expected_gradients as expected_gradients
from ._gradients import integrated_gradients as integrated_gradients
from ._gradients import saliency as saliency
from ._gradients import smoothgrad as smoothgrad
from ._layers import activations as activations
from ._layers import layer_conductance as layer_conductance
from ._layers import layer_integrated_gradients as layer_integrated_gradients
from ._layers import neuron_gradient as neuron_gradient
from ._occlusion import occlusion as occlusion
from ._relu_rules import deconvnet as deconvnet
from ._relu_rules import guided_backprop as guided_backprop
