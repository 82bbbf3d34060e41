"""The dress rehearsal of a preset: random full-size weights in the real formats, a generated dataset in the
preset's layout, a site file that shrinks only the amounts of work, and a forecast of the full recipe's cost."""
