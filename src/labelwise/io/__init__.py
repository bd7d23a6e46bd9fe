"""Data in and out."""

from labelwise.io._tabular import BUNDLED, Dataset, load_dataset

__all__ = ["BUNDLED", "Dataset", "load_dataset"]
