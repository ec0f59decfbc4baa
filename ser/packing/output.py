"""ser-infer's rows as CSV (one posterior column per class) or JSON lines."""

import csv
import io
import json

from ser.packing.run import VAD


class RowWriter:
    """Collects rows and renders them; CSV columns follow the model's outputs."""

    def __init__(self, fmt: str, classes: list[str]):
        self.fmt, self.classes, self.rows = fmt, classes, []

    def columns(self) -> list[str]:
        """Posteriors of every class; V/A/D and gender only when the model predicts them."""
        cols = ["file", "segment", "start", "end", "pred", *[f"p_{c}" for c in self.classes]]
        cols += list(VAD) if any("valence" in r for r in self.rows) else []
        cols += ["gender"] if any("gender" in r for r in self.rows) else []
        return cols + ["error"]

    def __call__(self, row: dict) -> None:
        self.rows.append(row)

    def render(self) -> str:
        buf = io.StringIO()
        if self.fmt == "jsonl":
            for row in self.rows:
                buf.write(json.dumps(row) + "\n")
            return buf.getvalue()
        w = csv.DictWriter(buf, self.columns(), lineterminator="\n")
        w.writeheader()
        for row in self.rows:
            flat = {k: v for k, v in row.items() if k != "posteriors"}
            flat.update({f"p_{c}": f"{p:.6f}" for c, p in row.get("posteriors", {}).items()})
            w.writerow(flat)
        return buf.getvalue()
