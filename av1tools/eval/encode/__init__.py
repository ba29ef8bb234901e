"""eval-encode: what a partition predictor is worth to the real encoder (``study.eval_encode``)."""
