"""vlparse: PDFs and images to structured, grounded results with the Qwen VL models."""

__version__ = "0.1.0"

from vlparse.core.families import get_family, pixel_budget  # noqa: E402
