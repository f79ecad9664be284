"""Static matplotlib twins of the jaxviz views. Every function returns the figure and never
calls `plt.show()`; pass `ax=` to draw into your own axes where offered."""

# Coalition and relevance explanations: Shapley values, LIME's fit, grouped maps, LRP.
from ._coalition import beeswarm as beeswarm
from ._coalition import grouped_attribution as grouped_attribution
from ._coalition import importance as importance
from ._coalition import lime_fit as lime_fit
from ._coalition import relevance as relevance
from ._coalition import waterfall as waterfall

# Tabular and sequence attributions.
from ._features import feature_bars as feature_bars
from ._features import sequence as sequence

# Gradient flow: one-shot flow, the training monitor, model structure, function explorer.
from ._flow import flow_monitor as flow_monitor
from ._flow import function as function
from ._flow import gradient_flow as gradient_flow
from ._flow import model_view as model_view

# Image attributions: one map, or a grid of methods.
from ._image import attribution as attribution
from ._image import grid as grid
from ._image import image as image
from ._image import per_class as per_class

# Layer explorer: activation grids, channel details, top examples, projections.
from ._layers import activation_grid as activation_grid
from ._layers import activation_overlay as activation_overlay
from ._layers import clusters as clusters
from ._layers import image_rows as image_rows
from ._layers import layer_projections as layer_projections
from ._layers import projection as projection
from ._layers import top_examples as top_examples

# Training: runs compared, confusion matrix, loss landscape.
from ._training import confusion_matrix as confusion_matrix
from ._training import loss_landscape as loss_landscape
from ._training import run_comparison as run_comparison

# Trust: the metrics scorecard, the deletion/insertion scrubber, the randomization cascade.
from ._trust import randomization as randomization
from ._trust import scorecard as scorecard
from ._trust import scrubber as scrubber
