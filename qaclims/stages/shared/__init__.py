"""Command-line helpers that the stage modules share."""
