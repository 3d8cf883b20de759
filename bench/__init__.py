"""carbonplane benchmarks: each harness measures against a baseline in the same run and prints
ratios."""
