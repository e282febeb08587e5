#!/usr/bin/python3
"""Brute-force exact cosine top-k with NumPy: the baseline for memvec's
Go search benchmarks (see bench/README.md).

It does what a NumPy user (for instance of MemMapVector, whose vectors.vec is
a raw float32 file written by ndarray.tofile) would do:

  1. load the raw little-endian float32 file (np.memmap or np.fromfile) and
     view it as an (n, dim) matrix M;
  2. normalize the rows once (timed separately: a user would precompute it);
  3. per query: q / |q|, scores = M @ q, np.argpartition(-scores, k)[:k],
     then sort those k (best first, ties by ascending row number, as memvec
     orders ties by ascending ID);
  4. a batch of queries Q: S = M @ Q.T, then argpartition per column.

Row i of the file is the vector with ID i in the Go benchmarks' store
(bench/gendata writes the rows in insertion order), so the IDs printed by
--check are directly comparable with memvec's Search results.

Memory: for 1M x 512 the file is 2 GB (with --load memmap it stays in the
page cache; with --load fromfile it is a 2 GB array) and the normalized copy
is another 2 GB (rows are normalized 65,536 at a time, so there is no third
full-size temporary); a batch of 32 queries adds its n x 32 scores, their
negation and argpartition's int64 indices, n*32*16 bytes (512 MB). About
4.5 GB at peak with memmap (plus the page cache), 5 GB with fromfile: fine
on a 24 GiB machine.

Run it with Debian's interpreter, which is the one python3-numpy installs
for, without the OPENBLAS_* overrides so that OpenBLAS picks its own kernel
for this CPU, and with glibc told to keep freed memory (the Go runtime keeps
its heap; without this every query faults in its result arrays afresh, which
costs milliseconds on a micro-VM):

  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
      GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=4294967296 \\
      /usr/bin/python3 bench/numpy_baseline.py --data /tmp/vecs.f32 --queries /tmp/queries.f32 --dim 512 --check
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="raw float32 vector file (n x dim, little-endian, no header)")
    p.add_argument("--queries", required=True, help="raw float32 query file (q x dim)")
    p.add_argument("--n", type=int, default=0, help="rows to use (default: all rows of --data)")
    p.add_argument("--dim", type=int, default=512, help="dimension (default 512)")
    p.add_argument("--k", type=int, default=10, help="top-k (default 10, as the Go benchmarks)")
    p.add_argument("--reps", type=int, default=20, help="timed repetitions (default 20)")
    p.add_argument("--batch", type=int, default=32, help="queries in the batch run (default 32; 0 skips it)")
    p.add_argument("--load", choices=("memmap", "fromfile"), default="memmap",
                   help="np.memmap (default) or np.fromfile")
    p.add_argument("--threads", type=int, default=0,
                   help="limit BLAS threads (needs threadpoolctl; default: the library's own default)")
    p.add_argument("--check", action="store_true",
                   help="print the top-10 IDs and scores of the first query")
    a = p.parse_args(argv)
    if a.dim <= 0 or a.k <= 0 or a.reps <= 0 or a.n < 0 or a.batch < 0:
        p.error("--dim, --k and --reps must be > 0, --n and --batch >= 0")
    return a


def loaded_blas():
    """Names the BLAS shared objects mapped into this process."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                if "blas" in os.path.basename(path) or "mkl" in os.path.basename(path):
                    libs.add(path)
    except OSError:
        pass
    return sorted(libs)


def describe_blas():
    print(f"python {sys.version.split()[0]} ({sys.executable}), numpy {np.__version__}, "
          f"os.cpu_count() {os.cpu_count()}, sched_getaffinity {len(os.sched_getaffinity(0))}")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                "GLIBC_TUNABLES"):
        if var in os.environ:
            print(f"env {var}={os.environ[var]}")
    if "glibc.malloc.trim_threshold" not in os.environ.get("GLIBC_TUNABLES", ""):
        print("note: GLIBC_TUNABLES does not keep freed memory (see bench/README.md); on a VM where a "
              "page fault is slow, every query then pays for faulting in its fresh result arrays")
    cfg = np.__config__
    for key in ("blas_opt_info", "openblas_info", "blas_mkl_info"):
        info = getattr(cfg, key, None)
        if info:
            print(f"numpy built against ({key}): libraries={info.get('libraries')}")
            break
    # Force BLAS to load, then report what actually serves it.
    m = np.ones((64, 64), np.float32)
    m @ m
    try:
        import threadpoolctl
        infos = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
        for i in infos:
            print(f"BLAS in use: {i.get('internal_api')} {i.get('version')} "
                  f"kernel={i.get('architecture')} threading={i.get('threading_layer')} "
                  f"threads={i.get('num_threads')} ({i.get('filepath')})")
        if not infos:
            print("BLAS in use: none known to threadpoolctl (reference BLAS is single-threaded); "
                  f"mapped: {loaded_blas()}")
    except ImportError:
        print(f"BLAS in use (threadpoolctl not installed): mapped {loaded_blas()}")


def load(path, n, dim, how):
    itemsize = np.dtype(np.float32).itemsize
    size = os.path.getsize(path)
    if size % (dim * itemsize):
        sys.exit(f"{path}: {size} bytes is not a whole number of {dim}-dim float32 rows")
    rows = size // (dim * itemsize)
    if n == 0:
        n = rows
    if n > rows:
        sys.exit(f"{path}: {rows} rows, --n {n} asked")
    if how == "memmap":
        return np.memmap(path, dtype="<f4", mode="r", shape=(n, dim))
    return np.fromfile(path, dtype="<f4", count=n * dim).reshape(n, dim)


def normalize_rows(raw, chunk=1 << 16):
    """Returns a new C-contiguous float32 matrix of raw's rows divided by
    their norms, built a chunk of rows at a time so that no full-size
    temporary other than the result is allocated. Zero rows stay zero."""
    out = np.empty(raw.shape, np.float32)
    for lo in range(0, raw.shape[0], chunk):
        c = np.asarray(raw[lo:lo + chunk], dtype=np.float32)
        norms = np.sqrt(np.einsum("ij,ij->i", c, c))
        norms[norms == 0] = 1
        np.divide(c, norms[:, None], out=out[lo:lo + chunk])
    return out


def topk(scores, k):
    """Top-k row numbers of a score vector, best first, ties by ascending row."""
    if k < scores.shape[0]:
        idx = np.argpartition(-scores, k)[:k]
    else:
        idx = np.arange(scores.shape[0])
    return idx[np.lexsort((idx, -scores[idx]))]


def search(M, q, k, phases=None):
    """Top-k of one query. If phases is a list, appends the seconds spent
    in M @ q and in the top-k selection of this call."""
    t0 = time.perf_counter()
    q = q / np.linalg.norm(q)
    scores = M @ q
    t1 = time.perf_counter()
    idx = topk(scores, k)
    if phases is not None:
        phases.append((t1 - t0, time.perf_counter() - t1))
    return idx, scores[idx]


def search_batch(M, Q, k, phases=None):
    """Top-k of each query of Q (one per row). If phases is a list, appends
    the seconds spent in M @ Q.T and in the per-column top-k selection."""
    t0 = time.perf_counter()
    Q = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    S = M @ Q.T  # (n, q)
    t1 = time.perf_counter()
    if k < S.shape[0]:
        part = np.argpartition(-S, k, axis=0)[:k]  # (k, q): per column
    else:
        part = np.broadcast_to(np.arange(S.shape[0])[:, None], S.shape)
    out = []
    for j in range(S.shape[1]):
        idx = part[:, j]
        s = S[idx, j]
        order = np.lexsort((idx, -s))
        out.append((idx[order], s[order]))
    if phases is not None:
        phases.append((t1 - t0, time.perf_counter() - t1))
    return out


def timed(fn, reps):
    """Runs fn(phases) once to warm up (as the Go benchmarks search once
    before timing), then reps times; returns the wall times of the reps and
    the median of each phase fn recorded."""
    fn([])
    times, phases = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(phases)
        times.append(time.perf_counter() - t0)
    return times, [statistics.median(p) for p in zip(*phases)]


def ms(t):
    return f"{t * 1e3:.2f}"


def main(argv):
    a = parse_args(argv)
    if a.threads:
        import threadpoolctl
        threadpoolctl.threadpool_limits(a.threads, user_api="blas")
    describe_blas()

    t0 = time.perf_counter()
    raw = load(a.data, a.n, a.dim, a.load)
    t_load = time.perf_counter() - t0
    n, dim = raw.shape
    Q = np.fromfile(a.queries, dtype="<f4")
    if Q.size == 0 or Q.size % dim:
        sys.exit(f"{a.queries}: {Q.size} floats is not a whole number of {dim}-dim queries")
    Q = Q.reshape(-1, dim)

    t0 = time.perf_counter()
    M = normalize_rows(raw)
    t_norm = time.perf_counter() - t0
    del raw
    print(f"data {n} x {dim} float32 ({n * dim * 4 / 1e9:.2f} GB), load {a.load} {ms(t_load)} ms, "
          f"normalize rows once {ms(t_norm)} ms"
          + (" (includes reading the file through the map)" if a.load == "memmap" else ""))

    q0 = Q[0]
    times, (t_mv, t_top) = timed(lambda ph: search(M, q0, a.k, ph), a.reps)
    med = statistics.median(times)
    scanned = n * dim * 4
    print(f"single query, k={a.k}, {a.reps} reps: median {ms(med)} ms, min {ms(min(times))} ms, "
          f"max {ms(max(times))} ms; phase medians: M @ q {ms(t_mv)} ms, argpartition+sort {ms(t_top)} ms")
    print(f"single query: {scanned} bytes scanned, {scanned / med / 1e9:.2f} GB/s at the median "
          f"({1 / med:.1f} queries/s); memvec's b.SetBytes counts n*(dim*4+4) = {n * (dim * 4 + 4)} bytes")

    if a.batch:
        if Q.shape[0] < a.batch:
            sys.exit(f"{a.queries}: {Q.shape[0]} queries, --batch {a.batch} asked")
        Qb = Q[:a.batch]
        bt, (b_mm, b_top) = timed(lambda ph: search_batch(M, Qb, a.k, ph), a.reps)
        bmed = statistics.median(bt)
        print(f"batch of {a.batch} (M @ Q.T + argpartition per column), {a.reps} reps: median {ms(bmed)} ms "
              f"total, {ms(bmed / a.batch)} ms/query ({a.batch / bmed:.1f} queries/s), min {ms(min(bt))} ms, "
              f"max {ms(max(bt))} ms; phase medians: M @ Q.T {ms(b_mm)} ms, argpartition+sort {ms(b_top)} ms")
        # The batch must agree with single searches.
        for j, (idx, _) in enumerate(search_batch(M, Qb, a.k)):
            sidx, _ = search(M, Qb[j], a.k)
            if not np.array_equal(idx, sidx):
                print(f"warning: batch and single top-{a.k} differ for query {j}: {idx} vs {sidx}")

    if a.check:
        idx, s = search(M, q0, max(a.k, 10))
        print("top-10 of query 0 (ID = 0-based row number, cosine score):")
        for i, sc in zip(idx[:10], s[:10]):
            print(f"  {int(i):8d}  {float(sc):.6f}")


if __name__ == "__main__":
    main(sys.argv[1:])
