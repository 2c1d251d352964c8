#!/usr/bin/env python3
"""PyTorch peer of vsml-vk: the identical population rollout (spec sections
2-5), batched over the population as a PyTorch user would write it: the
inbox terms U[a], V[b] once per step, one baddbmm per micro tick for the
gates of every sub-LSTM of every episode, in-place element-wise updates,
h averaged over a and over b before the two message projections (bmm).

Input: a workload file written by `vsml-vk bench --peer torch` (safetensors:
params [P][n], x [n_examples][D], stream [R][T][2] = example index, label;
metadata: layers, micro_ticks, feed_label, clip_state, per_layer_params,
P, E, T, check_steps; init = zeros). Episode r uses parameter vector r // E
and reads stream r.

Output: the logits of the first check_steps steps of every episode
(--check-out, safetensors F32 [R][check_steps][C]) and one JSON line on
stdout: {"peer": "torch", "desc": ..., "times_s": [...], ...} with the wall
time of each of --reps full rollouts of T steps. VSML_PEER_INJECT_ERROR=1
perturbs one check logit (tests prove that the bench's comparison fails).

Only numpy and torch are needed (safetensors is parsed here).
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np
import torch

N, M = 16, 8
G = 4 * N
BLOCK = (2 * M + N) * G + G + N * M + M + N * M + M  # 2384


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    hdr = json.loads(data[8:8 + n])
    meta = hdr.pop("__metadata__", {})
    base = 8 + n
    dtypes = {"F32": np.float32, "I32": np.int32}
    out = {}
    for k, v in hdr.items():
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[base + a:base + b], dtype=dtypes[v["dtype"]]).reshape(v["shape"])
    return out, meta


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for k, a in tensors.items():
        b = np.ascontiguousarray(a, dtype=np.float32).tobytes()
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp.%d" % os.getpid()
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)


def blas_name():
    """The BLAS library torch resolved (Debian: libblas.so.3 via alternatives)."""
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    except OSError:
        return "unknown"
    for lib in sorted(libs):
        if "openblas" in lib:
            return "openblas (%s)" % os.path.dirname(lib).rsplit("/", 1)[-1]
    for lib in sorted(libs):
        if "libblas" in lib:
            return "reference BLAS (%s)" % lib
    return "built in"


class Blocks:
    """The named parts of one parameter block for every episode."""

    def __init__(self, p):  # p: [R, BLOCK]
        R = p.shape[0]
        o = 0
        W = p[:, o:o + (2 * M + N) * G].reshape(R, 2 * M + N, G)
        o += (2 * M + N) * G
        b = p[:, o:o + G].clone()
        o += G
        # the fixed gate offsets (spec 3) folded into the bias: i - 5, f + 5
        b[:, 0:N] -= 5.0
        b[:, 2 * N:3 * N] += 5.0
        self.Wf, self.Wb, self.Wh, self.b = W[:, :M], W[:, M:2 * M], W[:, 2 * M:].contiguous(), b
        self.Wfwd = p[:, o:o + N * M].reshape(R, N, M)
        o += N * M
        self.bfwd = p[:, o:o + M]
        o += M
        self.Wbwd = p[:, o:o + N * M].reshape(R, N, M)
        o += N * M
        self.bbwd = p[:, o:o + M]


class Population:
    def __init__(self, w, meta, dev):
        self.sizes = [int(s) for s in meta["layers"].split(",")]
        self.K = len(self.sizes) - 1
        self.ticks = int(meta["micro_ticks"])
        self.feed_label = meta["feed_label"] == "1"
        self.clip = float(meta["clip_state"])
        per_layer = meta["per_layer_params"] == "1"
        if meta.get("init", "zeros") != "zeros":
            raise SystemExit("vsml_torch.py: only init = zeros workloads are supported")
        self.P, self.E, self.T = int(meta["P"]), int(meta["E"]), int(meta["T"])
        self.R = self.P * self.E
        self.dev = dev
        params = torch.from_numpy(w["params"].copy()).to(dev)
        n_blocks = self.K if per_layer else 1
        if params.shape != (self.P, n_blocks * BLOCK):
            raise SystemExit("vsml_torch.py: params have shape %s, expected [%d, %d]"
                             % (tuple(params.shape), self.P, n_blocks * BLOCK))
        vec = torch.arange(self.R, device=dev) // self.E
        self.blocks = [Blocks(params[vec, (k if per_layer else 0) * BLOCK:
                                      ((k if per_layer else 0) + 1) * BLOCK])
                       for k in range(self.K)]
        self.x = torch.from_numpy(w["x"].copy()).to(dev)
        st = torch.from_numpy(w["stream"].astype(np.int64)).to(dev)
        self.ex, self.labels = st[:, :, 0], st[:, :, 1]

    def rollout(self, T, keep_logits=False):
        R, K, dev = self.R, self.K, self.dev
        Ls = []
        for k in range(K):
            A, B = self.sizes[k], self.sizes[k + 1]
            Ls.append(dict(A=A, B=B, h=torch.zeros(R, A * B, N, device=dev),
                           c=torch.zeros(R, A * B, N, device=dev),
                           fwd=torch.zeros(R, A, M, device=dev), bwd=torch.zeros(R, B, M, device=dev)))
        C = self.sizes[K]
        out = []
        rows = torch.arange(R, device=dev)
        for t in range(T):
            xt = self.x[self.ex[:, t]]  # [R, D]
            y = None
            for k in range(K):
                L, P = Ls[k], self.blocks[k]
                A, B = L["A"], L["B"]
                if k == 0:  # inbox [x_a, 0, ...]: only row 0 of W_lstm's forward part
                    U = xt[:, :, None] * P.Wf[:, 0, None, :]
                else:
                    U = torch.bmm(L["fwd"], P.Wf)
                V = torch.baddbmm(P.b[:, None, :], L["bwd"], P.Wb)
                UV = (U[:, :, None, :] + V[:, None, :, :]).reshape(R, A * B, G)
                h, c = L["h"], L["c"]
                for _ in range(self.ticks):
                    z = torch.baddbmm(UV, h, P.Wh)
                    s = torch.sigmoid(z)
                    g = torch.tanh(z[:, :, N:2 * N])
                    c.mul_(s[:, :, 2 * N:3 * N]).addcmul_(s[:, :, 0:N], g)
                    if self.clip > 0:
                        c.clamp_(-self.clip, self.clip)
                    torch.tanh(c, out=h)
                    h.mul_(s[:, :, 3 * N:])
                h4 = h.view(R, A, B, N)
                F = torch.baddbmm(P.bfwd[:, None, :], h4.mean(1), P.Wfwd)  # [R, B, M]
                Gm = torch.baddbmm(P.bbwd[:, None, :], h4.mean(2), P.Wbwd)  # [R, A, M]
                if k > 0:
                    Ls[k - 1]["bwd"] = Gm
                if k < K - 1:
                    Ls[k + 1]["fwd"] = F
                else:
                    y = 100.0 * torch.tanh(F[:, :, 1] / 100.0)  # [R, C]
            lab = self.labels[:, t]
            p = torch.softmax(y, dim=1)
            onehot = torch.zeros(R, C, device=dev)
            onehot[rows, lab] = 1.0
            bwd = torch.zeros(R, C, M, device=dev)
            bwd[:, :, 0] = p - onehot
            if self.feed_label:
                bwd[:, :, 1] = onehot
            Ls[K - 1]["bwd"] = bwd
            if keep_logits:
                out.append(y)
        return torch.stack(out, 1) if keep_logits else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", required=True)
    ap.add_argument("--check-out", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all cores)")
    a = ap.parse_args()
    dev = a.device
    if dev == "auto":
        dev = "cuda" if torch.cuda.is_available() else "cpu"
    if dev == "cuda" and not torch.cuda.is_available():
        raise SystemExit("vsml_torch.py: --device cuda but torch has no CUDA device")
    threads = a.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    w, meta = read_safetensors(a.workload)
    if meta.get("format") != "vsml-bench-workload-1":
        raise SystemExit("vsml_torch.py: %s is not a vsml-vk bench workload" % a.workload)
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    with torch.no_grad():
        pop = Population(w, meta, dev)
        Tc = int(meta["check_steps"])
        logits = pop.rollout(Tc, keep_logits=True)  # also the warm-up
        if os.environ.get("VSML_PEER_INJECT_ERROR", "0") not in ("", "0"):
            logits[-1, -1, -1] += 0.01 * (1.0 + abs(float(logits[-1, -1, -1])))  # tests only
        write_safetensors(a.check_out, {"logits": logits.cpu().numpy()})
        times = []
        for _ in range(a.reps):
            sync()
            t0 = time.perf_counter()
            pop.rollout(pop.T)
            sync()
            times.append(time.perf_counter() - t0)
    if dev == "cpu":
        where = "cpu, %d threads, %s" % (torch.get_num_threads(), blas_name())
    else:
        where = "cuda (%s)" % torch.cuda.get_device_name(0)
    print(json.dumps({"peer": "torch", "desc": "torch %s, %s" % (torch.__version__, where),
                      "device": dev, "threads": torch.get_num_threads(), "times_s": times}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
