"""Query strategies: pure scorers (higher = label first) and batch selectors.

Scorers take arrays (probabilities, committee probabilities, features) and
return one finite float per sample. Selectors turn scores and features into a
batch of unique pool indices. The registry (:data:`STRATEGIES`) pairs them into
named strategies used by the loop, the CLI and pipeline files.
"""

from labelwise.strategies._batch import badge, gradient_embedding, ranked_batch
from labelwise.strategies._committee import (
    bald,
    committee_std,
    consensus_entropy,
    kl_divergence,
    max_disagreement,
    variation_ratio,
    vote_entropy,
)
from labelwise.strategies._density import (
    cluster_density,
    information_density,
    kde_density,
    knn_density,
    typicality,
)
from labelwise.strategies._detection import (
    Detections,
    SegmentationMaps,
    detection_box_disagreement,
    detection_entropy,
    detection_mean_confidence,
    detection_min_confidence,
    segmentation_boundary,
    segmentation_entropy,
)
from labelwise.strategies._expected import (
    EERDetails,
    expected_error_reduction,
    expected_gradient_length,
)
from labelwise.strategies._multilabel import multilabel_uncertainty
from labelwise.strategies._novelty import novelty, representativeness
from labelwise.strategies._registry import (
    COLD_START,
    COMMITTEE_SCORERS,
    STRATEGIES,
    UNCERTAINTY_SCORERS,
    Pick,
    QueryContext,
    Selection,
    Strategy,
    get_strategy,
    strategy_names,
)
from labelwise.strategies._selectors import (
    class_balance,
    intersection,
    iterative_proximity,
    k_center_greedy,
    kmeans_equal,
    kmeans_proportional,
    top_k,
    weighted,
)
from labelwise.strategies._uncertainty import (
    entropy,
    least_confidence,
    margin,
    random,
    ratio,
    variance,
)

__all__ = [
    "least_confidence",
    "margin",
    "ratio",
    "entropy",
    "variance",
    "random",
    "vote_entropy",
    "consensus_entropy",
    "kl_divergence",
    "max_disagreement",
    "bald",
    "variation_ratio",
    "committee_std",
    "novelty",
    "representativeness",
    "multilabel_uncertainty",
    "expected_gradient_length",
    "expected_error_reduction",
    "EERDetails",
    "typicality",
    "knn_density",
    "kde_density",
    "information_density",
    "cluster_density",
    "ranked_batch",
    "badge",
    "gradient_embedding",
    "top_k",
    "k_center_greedy",
    "kmeans_equal",
    "kmeans_proportional",
    "iterative_proximity",
    "weighted",
    "intersection",
    "class_balance",
    "detection_mean_confidence",
    "detection_min_confidence",
    "detection_entropy",
    "detection_box_disagreement",
    "segmentation_entropy",
    "segmentation_boundary",
    "Detections",
    "SegmentationMaps",
    "QueryContext",
    "Selection",
    "Pick",
    "Strategy",
    "STRATEGIES",
    "COLD_START",
    "UNCERTAINTY_SCORERS",
    "COMMITTEE_SCORERS",
    "get_strategy",
    "strategy_names",
]
