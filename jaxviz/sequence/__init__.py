"""Sequence models: attention capture, rollout and flow, gradient-weighted attention, head
knock-out and masking, token attribution at the embedding layer, and RNN states over time.

Pure JAX (flow's max-flow runs on the host), no widgets or matplotlib. Token inputs are int ids
(batch, length); attention weights are (batch, layers, heads, queries, keys).
"""

from ._analysis import attention_flow as attention_flow
from ._analysis import attention_rollout as attention_rollout
from ._analysis import layer_graph as layer_graph
from ._attribution import token_attribution as token_attribution
from ._attribution import token_occlusion as token_occlusion
from ._capture import attention as attention
from ._capture import gradient_weighted_attention as gradient_weighted_attention
from ._capture import head_importance as head_importance
from ._capture import logits_with_head_mask as logits_with_head_mask
from ._rnn import RNNStates as RNNStates
from ._rnn import rnn_states as rnn_states
from ._rnn import state_gradient_norms as state_gradient_norms
from ._tokens import attention_layers as attention_layers
