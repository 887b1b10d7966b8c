"""The pure domain: model families, geometry, the result model, errors and the prompt type.

Nothing here does I/O or imports torch, rendering, backends or the runner (a test enforces it).
"""
