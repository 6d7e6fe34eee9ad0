"""CSV for reports (`Accept: text/csv` or `?format=csv`): a page's rows, one per line, headed by
the view's `csv_columns` (or the first row's keys); an error body as its fields. Paging stays
in the `Link` header."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from rest_framework.renderers import BaseRenderer


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        rows: Sequence[Mapping[str, Any]]
        if isinstance(data, Mapping) and "results" in data:
            rows = data["results"]
        elif isinstance(data, Mapping):
            rows = [{key: value for key, value in data.items() if not isinstance(value, dict)}]
        else:
            rows = data or []
        view = (renderer_context or {}).get("view")
        is_error = isinstance(data, Mapping) and "results" not in data
        columns = None if is_error else getattr(view, "csv_columns", None)
        columns = columns or (list(rows[0]) if rows else ["detail"])
        out = io.StringIO()
        writer = csv.DictWriter(
            out, fieldnames=columns, lineterminator="\r\n", extrasaction="ignore"
        )
        writer.writeheader()  # even over no rows: the columns say what the report is
        writer.writerows(rows)
        return out.getvalue().encode(self.charset)
