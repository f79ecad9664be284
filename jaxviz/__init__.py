"""jaxviz: explain and visualize JAX and Flax neural networks in Jupyter."""

import typing

from . import course as course
from . import flow as flow
from . import latent as latent
from . import metrics as metrics
from . import sequence as sequence
from . import zoo as zoo
from ._config import config as config
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
from .explain._coalition import LimeResult as LimeResult
from .explain._coalition import LimeSamples as LimeSamples
from .explain._coalition import ShapleyResult as ShapleyResult
from .explain._coalition import grid_segments as grid_segments
from .explain._coalition import kernel_shap as kernel_shap
from .explain._coalition import lime as lime
from .explain._coalition import shapley_values as shapley_values
from .explain._coalition import superpixels as superpixels
from .explain._coalition import token_spans as token_spans
from .explain._features import ReceptiveField as ReceptiveField
from .explain._features import TopExamples as TopExamples
from .explain._features import channel_backprojection as channel_backprojection
from .explain._features import peak_patches as peak_patches
from .explain._features import receptive_field as receptive_field
from .explain._features import top_activating as top_activating
from .explain._featurevis import FeatureVisualization as FeatureVisualization
from .explain._featurevis import feature_visualization as feature_visualization
from .explain._lrp import AlphaBeta as AlphaBeta
from .explain._lrp import Epsilon as Epsilon
from .explain._lrp import Flat as Flat
from .explain._lrp import Gamma as Gamma
from .explain._lrp import Relevance as Relevance
from .explain._lrp import ZBox as ZBox
from .explain._lrp import lrp as lrp
from .explain._projection import PCA as PCA
from .explain._projection import KMeans as KMeans
from .explain._projection import kmeans as kmeans
from .explain._projection import layer_embeddings as layer_embeddings
from .explain._projection import layer_projections as layer_projections
from .explain._projection import pca as pca
from .explain._projection import tsne as tsne
from .flow import Diagnosis as Diagnosis
from .flow import FlowStats as FlowStats
from .flow import GradientFlow as GradientFlow
from .flow import ModelGraph as ModelGraph
from .flow import Recorder as Recorder
from .flow import diagnose as diagnose
from .flow import export_tensorboard as export_tensorboard
from .flow import flow_stats as flow_stats
from .flow import gradient_flow as gradient_flow
from .flow import load_run as load_run
from .flow import model_graph as model_graph
from .latent import Arithmetic as Arithmetic
from .latent import Autoencoder as Autoencoder
from .latent import CodeAtlas as CodeAtlas
from .latent import CodebookUsage as CodebookUsage
from .latent import Interpolation as Interpolation
from .latent import LatentEmbedding as LatentEmbedding
from .latent import LatentPlane as LatentPlane
from .latent import Neighbours as Neighbours
from .latent import Traversal as Traversal
from .latent import attribute_vector as attribute_vector
from .latent import code_atlas as code_atlas
from .latent import codebook_projection as codebook_projection
from .latent import codebook_usage as codebook_usage
from .latent import encode_dataset as encode_dataset
from .latent import interpolate as interpolate
from .latent import latent_arithmetic as latent_arithmetic
from .latent import latent_plane as latent_plane
from .latent import latent_traversal as latent_traversal
from .latent import nearest_neighbours as nearest_neighbours
from .latent import vq_codes as vq_codes
from .sequence import RNNStates as RNNStates
from .sequence import attention as attention
from .sequence import attention_flow as attention_flow
from .sequence import attention_layers as attention_layers
from .sequence import attention_rollout as attention_rollout
from .sequence import gradient_weighted_attention as gradient_weighted_attention
from .sequence import head_importance as head_importance
from .sequence import layer_graph as layer_graph
from .sequence import logits_with_head_mask as logits_with_head_mask
from .sequence import rnn_states as rnn_states
from .sequence import state_gradient_norms as state_gradient_norms
from .sequence import token_attribution as token_attribution
from .sequence import token_occlusion as token_occlusion
from .train import ConfusionMatrix as ConfusionMatrix
from .train import LossLandscape as LossLandscape
from .train import confusion_matrix as confusion_matrix
from .train import loss_landscape as loss_landscape
from .train import loss_line as loss_line

if typing.TYPE_CHECKING:
    from . import plot as plot
    from .widgets._codebook_view import CodebookView as CodebookView
    from .widgets._explorer import Explorer as Explorer
    from .widgets._flow import FlowMonitor as FlowMonitor
    from .widgets._flow import FunctionExplorer as FunctionExplorer
    from .widgets._flow import GradientFlowView as GradientFlowView
    from .widgets._flow import ModelView as ModelView
    from .widgets._gan_lab import GANLab as GANLab
    from .widgets._latent_explorer import LatentExplorer as LatentExplorer
    from .widgets._layers import LayerExplorer as LayerExplorer
    from .widgets._layers import Projector as Projector
    from .widgets._sequence import AttentionView as AttentionView
    from .widgets._sequence import RNNView as RNNView
    from .widgets._sequence import TokenView as TokenView
    from .widgets._training import ConfusionView as ConfusionView
    from .widgets._training import LandscapeView as LandscapeView
    from .widgets._trust import DeletionScrubber as DeletionScrubber
    from .widgets._trust import RandomizationView as RandomizationView
    from .widgets._trust import Scorecard as Scorecard

# matplotlib (jv.plot) and anywidget/ipywidgets (the widgets) cost about a second to import:
# they load on first use, so `import jaxviz` and a first explanation start fast.
_LAZY = {
    "plot": (".plot", None),
    "Explorer": (".widgets._explorer", "Explorer"),
    "FlowMonitor": (".widgets._flow", "FlowMonitor"),
    "FunctionExplorer": (".widgets._flow", "FunctionExplorer"),
    "GradientFlowView": (".widgets._flow", "GradientFlowView"),
    "ModelView": (".widgets._flow", "ModelView"),
    "ConfusionView": (".widgets._training", "ConfusionView"),
    "LandscapeView": (".widgets._training", "LandscapeView"),
    "LayerExplorer": (".widgets._layers", "LayerExplorer"),
    "Projector": (".widgets._layers", "Projector"),
    "AttentionView": (".widgets._sequence", "AttentionView"),
    "RNNView": (".widgets._sequence", "RNNView"),
    "TokenView": (".widgets._sequence", "TokenView"),
    "DeletionScrubber": (".widgets._trust", "DeletionScrubber"),
    "RandomizationView": (".widgets._trust", "RandomizationView"),
    "Scorecard": (".widgets._trust", "Scorecard"),
    "GANLab": (".widgets._gan_lab", "GANLab"),
    "LatentExplorer": (".widgets._latent_explorer", "LatentExplorer"),
    "CodebookView": (".widgets._codebook_view", "CodebookView"),
}


# The public API: every name here is covered by tests/api_signatures.txt (tests/test_api.py).
__all__ = [
    # models, the zoo and settings
    "Model",
    "wrap",
    "zoo",
    "config",
    # attribution methods
    "deconvnet",
    "expected_gradients",
    "gradcam",
    "guided_backprop",
    "guided_gradcam",
    "integrated_gradients",
    "layer_conductance",
    "layer_integrated_gradients",
    "neuron_gradient",
    "occlusion",
    "saliency",
    "smoothgrad",
    # coalition methods and their feature groups
    "grid_segments",
    "kernel_shap",
    "lime",
    "shapley_values",
    "superpixels",
    "token_spans",
    "LimeResult",
    "LimeSamples",
    "ShapleyResult",
    # layer-wise relevance propagation
    "lrp",
    "AlphaBeta",
    "Epsilon",
    "Flat",
    "Gamma",
    "Relevance",
    "ZBox",
    # layers and features, and their result types
    "activations",
    "channel_backprojection",
    "feature_visualization",
    "kmeans",
    "layer_embeddings",
    "layer_projections",
    "pca",
    "peak_patches",
    "receptive_field",
    "top_activating",
    "tsne",
    "FeatureVisualization",
    "KMeans",
    "PCA",
    "ReceptiveField",
    "TopExamples",
    # sequences: attention, tokens, recurrent states
    "sequence",
    "attention",
    "attention_flow",
    "attention_layers",
    "attention_rollout",
    "gradient_weighted_attention",
    "head_importance",
    "layer_graph",
    "logits_with_head_mask",
    "rnn_states",
    "state_gradient_norms",
    "token_attribution",
    "token_occlusion",
    "RNNStates",
    # can an explanation be trusted: jv.metrics.deletion, ...
    "metrics",
    # training statistics and gradient flow
    "flow",
    "diagnose",
    "export_tensorboard",
    "flow_stats",
    "gradient_flow",
    "load_run",
    "model_graph",
    "Diagnosis",
    "FlowStats",
    "GradientFlow",
    "ModelGraph",
    "Recorder",
    # latent spaces: autoencoders, VAEs, vector-quantized codes
    "latent",
    "Autoencoder",
    "attribute_vector",
    "code_atlas",
    "codebook_projection",
    "codebook_usage",
    "encode_dataset",
    "interpolate",
    "latent_arithmetic",
    "latent_plane",
    "latent_traversal",
    "nearest_neighbours",
    "vq_codes",
    "Arithmetic",
    "CodeAtlas",
    "CodebookUsage",
    "Interpolation",
    "LatentEmbedding",
    "LatentPlane",
    "Neighbours",
    "Traversal",
    # after training: evaluation and the loss landscape
    "confusion_matrix",
    "loss_landscape",
    "loss_line",
    "ConfusionMatrix",
    "LossLandscape",
    # static plots and widgets (loaded on first use)
    "plot",
    "ConfusionView",
    "Explorer",
    "FlowMonitor",
    "FunctionExplorer",
    "GradientFlowView",
    "LandscapeView",
    "LayerExplorer",
    "ModelView",
    "Projector",
    "AttentionView",
    "RNNView",
    "TokenView",
    "DeletionScrubber",
    "RandomizationView",
    "Scorecard",
    "GANLab",
    "LatentExplorer",
    "CodebookView",
]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'jaxviz' has no attribute {name!r}")
    import importlib

    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name, __name__)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value
