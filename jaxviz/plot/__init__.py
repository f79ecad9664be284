"""Static matplotlib twins of the jaxviz views. Every function returns the figure and never
calls `plt.show()`; pass `ax=` to draw into your own axes where offered."""

from ._features import feature_bars as feature_bars
from ._features import sequence as sequence
from ._image import attribution as attribution
from ._image import grid as grid
from ._image import image as image

from ._flow import flow_monitor as flow_monitor
from ._flow import function as function
from ._flow import gradient_flow as gradient_flow
from ._flow import model_view as model_view
