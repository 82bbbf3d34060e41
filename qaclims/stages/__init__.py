"""One module per workflow rule: each reads its inputs, calls library code and writes its outputs.

A stage module exposes ``DESCRIPTION``, ``add_arguments(parser)`` and ``run(args)``.
"""
