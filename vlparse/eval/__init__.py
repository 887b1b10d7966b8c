"""Accuracy of parses against ground truth: page metrics (pure), the self-benchmark against the PDFs' text layer
or hand-written references, olmOCR-Bench tests, COCO AP/AR. The ``vlparse eval`` job is
:mod:`vlparse.run.eval_job`."""
