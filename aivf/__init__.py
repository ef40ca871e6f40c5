"""aivf: AI embryo selection from time-lapse videos (research software, not a medical device)."""

__version__ = "0.1.0"
