"""``vlparse eval``: accuracy of parses against ground truth (text layer, hand-written references, olmOCR-Bench
tests, COCO boxes). ``metrics`` is pure; ``selfbench``, ``olmocr_bench`` and ``grounding`` read files."""
