"""labelwise: decide which samples to label next, run the loop, know when to stop."""

__version__ = "0.1.0"
