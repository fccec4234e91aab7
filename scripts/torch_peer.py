#!/usr/bin/env python3
"""PyTorch peer for throughput comparisons: trains the same small convnet with the same method, on the CPU
or (--device cuda) on an NVIDIA GPU. `npm run bench` runs it side by side with ours.

Run with a python3 that has torch (Debian: apt-get install python3-torch, then /usr/bin/python3):
  python3 scripts/torch_peer.py --method simclr --arch '{"convs":[[32,1],[64,2],[128,2]],"bn":true}' \
      --proj 256,128 --batch 256 --steps 20 --threads 2 [--device cuda]
Prints one JSON line: {"peer":"pytorch","torch":"1.13...","method":...,"device":...,"views_per_s":...,"ms_per_step":...}

--arch "convs" is a list of [filters, stride] 3x3 convolutions (padding 'same'), each followed by
BatchNorm (if "bn") and ReLU, then global average pooling. Input is --input HxWxC (default 28x28x1).
--data random: random tensors (model step only). --data fmnist: real Fashion-MNIST batches from the IDX
files in --data-dir (default: the repository's data/builtin) with a batched crop/flip/brightness-contrast
augmentation on the same device (augmentation time counted). On CUDA the clock is read after
torch.cuda.synchronize(), and the warm-up steps (cuDNN autotuning, allocations) are not timed.
"""
import argparse, gzip, json, math, os, sys, time
import torch, torch.nn as nn, torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument('--method', default='simclr', choices=['simclr', 'moco', 'byol', 'simsiam'])
p.add_argument('--arch', default='{"convs":[[32,1],[64,2],[128,2]],"bn":true}')
p.add_argument('--proj', default='256,128', help='projector hidden,out')
p.add_argument('--input', default='28x28x1')
p.add_argument('--batch', type=int, default=256)
p.add_argument('--steps', type=int, default=20)
p.add_argument('--warmup', type=int, default=3)
p.add_argument('--threads', type=int, default=os.cpu_count())
p.add_argument('--data', default='random', choices=['random', 'fmnist'])
p.add_argument('--data-dir', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data', 'builtin'))
p.add_argument('--device', default='cpu', help='cpu or cuda')
a = p.parse_args()
dev = torch.device(a.device)
if dev.type == 'cuda' and not torch.cuda.is_available(): sys.exit('torch has no usable CUDA device here')
torch.set_num_threads(a.threads)
torch.manual_seed(0)
H, W, C = (int(v) for v in a.input.split('x'))
arch = json.loads(a.arch)
ph, po = (int(v) for v in a.proj.split(','))

def encoder():
    layers, cin = [], C
    for f, s in arch['convs']:
        layers += [nn.Conv2d(cin, f, 3, s, 1, bias=not arch.get('bn', True))]
        if arch.get('bn', True): layers += [nn.BatchNorm2d(f)]
        layers += [nn.ReLU()]
        cin = f
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), cin

def mlp(i, h, o): return nn.Sequential(nn.Linear(i, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, o))

enc, feat = encoder()
proj = mlp(feat, ph, po)
params = list(enc.parameters()) + list(proj.parameters())
pred = None
if a.method in ('byol', 'simsiam'):
    pred = mlp(po, ph, po); params += list(pred.parameters())
if a.method in ('byol', 'moco'):
    import copy
    tenc, tproj = copy.deepcopy(enc), copy.deepcopy(proj)
    for q in list(tenc.parameters()) + list(tproj.parameters()): q.requires_grad = False
queue = F.normalize(torch.randn(4096, po), dim=1).to(dev) if a.method == 'moco' else None
for m_ in [enc, proj, pred] + ([tenc, tproj] if a.method in ('byol', 'moco') else []):
    if m_ is not None: m_.to(dev)
opt = torch.optim.Adam(params, 1e-3)
def sync():
    if dev.type == 'cuda': torch.cuda.synchronize()

def augment(x):
    B = x.shape[0]
    d = x.device
    s = torch.empty(B, device=d).uniform_(0.2, 1.0); r = torch.exp(torch.empty(B, device=d).uniform_(math.log(3 / 4), math.log(4 / 3)))
    w = torch.sqrt(s * r).clamp(max=1); h = torch.sqrt(s / r).clamp(max=1)
    cx = (torch.rand(B, device=d) * 2 - 1) * (1 - w); cy = (torch.rand(B, device=d) * 2 - 1) * (1 - h)
    flip = torch.where(torch.rand(B, device=d) < 0.5, -1.0, 1.0)
    theta = torch.zeros(B, 2, 3, device=d); theta[:, 0, 0] = w * flip; theta[:, 0, 2] = cx; theta[:, 1, 1] = h; theta[:, 1, 2] = cy
    x = F.grid_sample(x, F.affine_grid(theta, x.shape, align_corners=False), align_corners=False)
    m = (torch.rand(B, 1, 1, 1, device=d) < 0.8).float()
    b = 1 + (torch.rand(B, 1, 1, 1, device=d) * 0.8 - 0.4); c = 1 + (torch.rand(B, 1, 1, 1, device=d) * 0.8 - 0.4)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return m * ((x * b - mean * b) * c + mean * b).clamp(0, 1) + (1 - m) * x

if a.data == 'fmnist':
    with gzip.open(os.path.join(a.data_dir, 'train-images-idx3-ubyte.gz')) as f:
        import numpy as np
        X = torch.tensor(np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28).copy()).float().div(255).to(dev)
    def batch(i):
        idx = torch.randint(0, len(X), (a.batch,), device=dev); x = X[idx]
        return augment(x), augment(x)
else:
    x1, x2 = torch.randn(a.batch, C, H, W, device=dev), torch.randn(a.batch, C, H, W, device=dev)
    def batch(i): return x1, x2

def step(i):
    v1, v2 = batch(i)
    B = v1.shape[0]
    if a.method == 'simclr':
        z = F.normalize(torch.cat([proj(enc(v1)), proj(enc(v2))]), dim=1)
        sim = z @ z.t() / 0.5; sim.fill_diagonal_(-1e9)
        loss = F.cross_entropy(sim, torch.cat([torch.arange(B, 2 * B), torch.arange(0, B)]).to(dev))
    elif a.method == 'simsiam':
        z1, z2 = proj(enc(v1)), proj(enc(v2))
        loss = -(F.cosine_similarity(pred(z1), z2.detach()).mean() + F.cosine_similarity(pred(z2), z1.detach()).mean()) / 2
    elif a.method == 'byol':
        p1, p2 = pred(proj(enc(v1))), pred(proj(enc(v2)))
        with torch.no_grad(): t1, t2 = tproj(tenc(v1)), tproj(tenc(v2))
        loss = (2 - 2 * F.cosine_similarity(p1, t2).mean()) + (2 - 2 * F.cosine_similarity(p2, t1).mean())
    else:
        q = F.normalize(proj(enc(v1)), dim=1)
        with torch.no_grad(): k = F.normalize(tproj(tenc(v2)), dim=1)
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.t()], 1) / 0.2
        loss = F.cross_entropy(logits, torch.zeros(B, dtype=torch.long, device=dev))
    opt.zero_grad(); loss.backward(); opt.step()
    if a.method == 'moco':  # enqueue the newest keys, dequeue the oldest (after the step: the queue is a constant)
        with torch.no_grad(): queue.copy_(torch.cat([k, queue[:-B]]))
    if a.method in ('byol', 'moco'):
        with torch.no_grad():
            for po_, pt in zip(list(enc.parameters()) + list(proj.parameters()), list(tenc.parameters()) + list(tproj.parameters())):
                pt.mul_(0.99).add_(po_.detach(), alpha=0.01)
    return loss.item()

for i in range(a.warmup): step(i)
sync()
t0 = time.perf_counter()
for i in range(a.steps): step(i)
sync()
dt = time.perf_counter() - t0
name = torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu'
print(json.dumps({'peer': 'pytorch', 'torch': torch.__version__, 'threads': a.threads, 'method': a.method, 'arch': arch, 'device': name,
                  'batch': a.batch, 'data': a.data, 'views_per_s': round(2 * a.batch * a.steps / dt, 1),
                  'ms_per_step': round(1000 * dt / a.steps, 2)}))
