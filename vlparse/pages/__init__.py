"""Inputs and pages: listing input files, opening PDFs and images, rendering pages at the model's size."""
