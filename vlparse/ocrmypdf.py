"""OCRmyPDF plugin entry point: ``ocrmypdf --plugin vlparse.ocrmypdf in.pdf out.pdf``.

The implementation is :mod:`vlparse.integrations.ocrmypdf`; OCRmyPDF registers this module's hooks.
"""

from vlparse.integrations.ocrmypdf import (  # noqa: F401 - pluggy finds the hooks on this module
    VlparseEngine,
    add_options,
    check_options,
    get_ocr_engine,
    initialize,
    register_options,
)
