"""Feature extraction for a project's samples: tabular, text and images."""

from labelwise.embed._features import (
    METHODS,
    compute_features,
    image_backbone_available,
    load_features,
    minilm_available,
)
from labelwise.embed._transform import FeatureTransform, feature_transform

__all__ = [
    "METHODS",
    "FeatureTransform",
    "compute_features",
    "feature_transform",
    "image_backbone_available",
    "load_features",
    "minilm_available",
]
