"""Model backends behind one interface (see :mod:`vlparse.backends.base`)."""
