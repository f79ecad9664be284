"""Can we trust an explanation? Metrics of faithfulness, robustness, localisation, complexity,
axiomatic properties and randomisation sanity checks, pure JAX, batched and compiled.

Every metric is `(model, x, target, attribution_or_method, *, options, key) -> result`: the
attribution is an array shaped like `x` (or like `x` without its channel axis) or a method
called as `method(model, x, classes)`, e.g. `jv.saliency` or
`functools.partial(jv.gradcam, layer="conv4")`. Results carry the score, the per-example values,
a bootstrap 95% confidence interval over the examples and, where it means something, the score
of a random attribution.
"""

from ._axiomatic import completeness_gap as completeness_gap
from ._axiomatic import non_sensitivity as non_sensitivity
from ._complexity import entropy as entropy
from ._complexity import sparseness as sparseness
from ._faithfulness import deletion as deletion
from ._faithfulness import faithfulness_correlation as faithfulness_correlation
from ._faithfulness import infidelity as infidelity
from ._faithfulness import insertion as insertion
from ._faithfulness import perturbed_inputs as perturbed_inputs
from ._faithfulness import road as road
from ._localisation import pointing_game as pointing_game
from ._localisation import relevance_mass as relevance_mass
from ._localisation import relevance_rank as relevance_rank
from ._localisation import top_k_intersection as top_k_intersection
from ._randomisation import model_randomization as model_randomization
from ._randomisation import random_logit as random_logit
from ._result import CurveResult as CurveResult
from ._result import MetricResult as MetricResult
from ._result import RandomizationResult as RandomizationResult
from ._robustness import avg_sensitivity as avg_sensitivity
from ._robustness import local_lipschitz as local_lipschitz
from ._robustness import max_sensitivity as max_sensitivity
from ._scorecard import SCORECARD_METRICS as SCORECARD_METRICS
from ._scorecard import Scorecard as Scorecard
from ._scorecard import scorecard as scorecard
