"""Evaluation: confusion-matrix metrics, their per-class tables, and pictures for people."""
