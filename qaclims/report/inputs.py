"""Read the evaluation summaries and tables that the report gathers, with errors that name the file."""

import json
from pathlib import Path

import pandas as pd

from qaclims.errors import QaclimsError


def require_keys(found, expected, path: str, what: str):
    missing = [key for key in expected if key not in found]
    if missing:
        raise QaclimsError(f"{what} {path} has no {', '.join(missing)}; rerun the rule that writes it")
    return found


def read_summary(path: str, keys: list[str]) -> dict:
    try:
        summary = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise QaclimsError(f"evaluation summary {path} cannot be read ({error}); rerun the rule that writes it") from error
    return require_keys(summary, keys, path, "evaluation summary")


def read_table(path: str, columns: list[str]) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise QaclimsError(f"table {path} cannot be read ({error}); rerun the rule that writes it") from error
    return require_keys(frame, columns, path, "table")
