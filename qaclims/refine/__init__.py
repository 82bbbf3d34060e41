"""Refinement of CAMs into pseudo labels: dense CRF, IRNet seed labels and affinities, the random walk."""
