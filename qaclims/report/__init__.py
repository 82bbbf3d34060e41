"""The run report's pieces: score tables, charts, overlay montages, VQA samples, stage resources.

They take data frames, dicts and pictures and return HTML text, figures and images; the
report_summary stage reads the workflow's files and writes what these return.
"""
