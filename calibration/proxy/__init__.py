"""Stage 1, proxy training: the proxy model family and its size ladder (model.py), token sources
(data.py), training one proxy (train.py), K learning rates trained as one vectorized group
(vectorized.py) and throughput measurement (bench.py). The only part of the project that needs torch."""
