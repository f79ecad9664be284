"""Static matplotlib twins of the jaxviz views."""

from ._flow import flow_monitor as flow_monitor
from ._flow import function as function
from ._flow import gradient_flow as gradient_flow
from ._flow import model_view as model_view
