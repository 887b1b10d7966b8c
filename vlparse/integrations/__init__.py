"""Bridges to other tools' data types (optional extras, imported only when used).

- ``supervision``: pages and grounding results as ``supervision.Detections``
- ``rag``: chunks as LangChain / LlamaIndex documents (the chunking itself is ``vlparse.export.chunks``)
- ``ocrmypdf``: vlparse as an OCRmyPDF OCR engine (``ocrmypdf --plugin vlparse.ocrmypdf``)
"""
