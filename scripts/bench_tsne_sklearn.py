"""scikit-learn's Barnes-Hut t-SNE on the data written by scripts/bench-tsne.ts, for the comparison.

Usage: /usr/bin/python3 scripts/bench_tsne_sklearn.py DATA.f32 N D ITERATIONS PERPLEXITY
Prints one JSON line: seconds (fit, wall), cpu_seconds (all threads), kl (scikit-learn's kl_divergence_), version, threads, and the
layout as a float32 file next to the input (DATA.sklearn.f32) so the TypeScript side can score it.
"""
import json
import os
import sys
import time

import numpy as np
import sklearn
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_info

path, n, d, iters, perplexity = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
x = np.fromfile(path, dtype=np.float32).reshape(n, d)
kw = dict(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", method="barnes_hut", angle=0.5, random_state=0)
# The iteration count was renamed from n_iter to max_iter in scikit-learn 1.5.
kw["max_iter" if tuple(int(p) for p in sklearn.__version__.split(".")[:2]) >= (1, 5) else "n_iter"] = iters
t0 = time.perf_counter()
c0 = time.process_time()
model = TSNE(**kw)
y = model.fit_transform(x)
seconds = time.perf_counter() - t0
cpu_seconds = time.process_time() - c0
y.astype(np.float32).tofile(path + ".sklearn.f32")
print(json.dumps({
    "seconds": seconds,
    "cpu_seconds": cpu_seconds,
    "kl": float(model.kl_divergence_),
    "iterations": int(getattr(model, "n_iter_", iters)),
    "version": sklearn.__version__,
    "omp_threads": os.environ.get("OMP_NUM_THREADS", "default (%d cores)" % os.cpu_count()),
}))
