"""Tools beside the library's core path: the speed bench, synthetic checkpoints, the environment report."""
