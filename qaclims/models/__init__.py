"""Model definitions and the tiny demo models."""
