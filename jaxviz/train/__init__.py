"""After training: the confusion matrix and the loss landscape (Li et al. 2018)."""

from ._confusion import ConfusionMatrix as ConfusionMatrix
from ._confusion import confusion_matrix as confusion_matrix
from ._landscape import LossLandscape as LossLandscape
from ._landscape import filter_normalize as filter_normalize
from ._landscape import loss_landscape as loss_landscape
from ._landscape import loss_line as loss_line
