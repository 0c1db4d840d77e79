"""mmsynth: manufacture vision-language instruction data as WebDataset shards."""

__version__ = "0.1.0"
