"""The columns of a training curve's table and the tags of its TensorBoard scalars, apart from the code that writes
them, so that the report reads curves without importing torch."""

# A point maps "step" and each tag (LOSS + term, LEARNING_RATE + group, IMAGES_PER_SECOND) to its value.
CurvePoint = dict[str, float]
STEP = "step"
LOSS = "loss/"
LEARNING_RATE = "lr/"
IMAGES_PER_SECOND = "images_per_second"
