"""The segmentation network: its training objective, inference and the network a config describes."""
