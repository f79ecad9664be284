"""jaxviz: explain and visualize JAX and Flax neural networks in Jupyter."""

from . import plot as plot
from ._model import Model as Model
from ._model import wrap as wrap
from .explain import activations as activations
from .explain import deconvnet as deconvnet
from .explain import expected_gradients as expected_gradients
from .explain import gradcam as gradcam
from .explain import guided_backprop as guided_backprop
from .explain import guided_gradcam as guided_gradcam
from .explain import integrated_gradients as integrated_gradients
from .explain import layer_conductance as layer_conductance
from .explain import layer_integrated_gradients as layer_integrated_gradients
from .explain import neuron_gradient as neuron_gradient
from .explain import occlusion as occlusion
from .explain import saliency as saliency
from .explain import smoothgrad as smoothgrad
from .flow import Diagnosis as Diagnosis
from .flow import FlowStats as FlowStats
from .flow import GradientFlow as GradientFlow
from .flow import Recorder as Recorder
from .flow import diagnose as diagnose
from .flow import flow_stats as flow_stats
from .flow import gradient_flow as gradient_flow
