"""The demo: a small synthetic world and the stand-ins for the pretrained models that know it.

Only this package knows the world (its classes' looks and kinds, the backgrounds and each class's
habitat). The pipeline reads the demo dataset as it reads PASCAL VOC, and the stand-ins through the
loaders of the real BLIP, CLIP and ImageNet weights.
"""
