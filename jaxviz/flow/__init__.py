"""Gradient flow: per-step training statistics, a bounded recorder, diagnostics, one-shot flow."""

from ._compare import Run as Run
from ._compare import collect_runs as collect_runs
from ._compare import percentile_bands as percentile_bands
from ._compare import run_table as run_table
from ._compare import smooth as smooth
from ._diagnose import Diagnosis as Diagnosis
from ._diagnose import DiagnosisGroup as DiagnosisGroup
from ._diagnose import depth_flags as depth_flags
from ._diagnose import diagnose as diagnose
from ._diagnose import group_diagnoses as group_diagnoses
from ._gradient_flow import GradientFlow as GradientFlow
from ._gradient_flow import gradient_flow as gradient_flow
from ._layers import LayerGroups as LayerGroups
from ._layers import group_layers as group_layers
from ._recorder import Recorder as Recorder
from ._runs import export_tensorboard as export_tensorboard
from ._runs import load_run as load_run
from ._stats import HIST_BINS as HIST_BINS
from ._stats import HIST_SAMPLE as HIST_SAMPLE
from ._stats import FlowStats as FlowStats
from ._stats import flow_stats as flow_stats
from ._stats import histogram_edges as histogram_edges
from ._summary import LayerRow as LayerRow
from ._summary import model_summary as model_summary
