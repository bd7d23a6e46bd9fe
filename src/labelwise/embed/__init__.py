"""Feature extraction for a project's samples: tabular, text and images."""

from labelwise.embed._features import (
    METHODS,
    compute_features,
    image_backbone_available,
    load_features,
    minilm_available,
)

__all__ = [
    "METHODS",
    "compute_features",
    "image_backbone_available",
    "load_features",
    "minilm_available",
]
