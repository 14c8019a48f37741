"""PyTorch reference for one VQGAN+CLIP optimisation step: for benchmarks only.

README: `npm run bench` compares Reverie against this; torch is never used at runtime. It times
nerdyrodent/VQGAN-CLIP generate.py's eager loop on the CPU at real sizes with random weights
(seeded): openai/CLIP ViT-B/32 VisionTransformer, taming f16_16384 post_quant_conv + Decoder,
straight-through vector_quantize, clamp_with_grad, MakeCutouts 'latest' (kornia's Af Pe Ji Er
approximated: one homography per cutout via grid_sample, a 3x3 colour matrix, an erase mask,
scaled noise), spherical distance loss, Adam lr 0.1 on z, z clamped to the codebook's range.

    python3 scripts/reference/torch_step.py --size 256 --cutn 32 --steps 3 --threads 2

Prints one JSON line (secPerStep = median of the timed steps after --warmup untimed ones; peakRssMB =
ru_maxrss; baseRssMB = RSS with the models built, before the first step; cpuSecPerStep =
median process CPU time of a step, all threads: about threads x secPerStep when uncontended;
linearGflops = this torch's rate on CLIP's MLP products at the step's rows, measured after it).
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------- CLIP (openai/CLIP model.py)
class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d_model, n_head):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_1 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_model * 4), QuickGELU(),
                                 nn.Linear(d_model * 4, d_model))
        self.ln_2 = nn.LayerNorm(d_model)

    def forward(self, x):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class VisionTransformer(nn.Module):
    def __init__(self, input_resolution=224, patch_size=32, width=768, layers=12, heads=12,
                 output_dim=512):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch_size, stride=patch_size, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        n_tok = (input_resolution // patch_size) ** 2 + 1
        self.positional_embedding = nn.Parameter(scale * torch.randn(n_tok, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = nn.Sequential(
            *[ResidualAttentionBlock(width, heads) for _ in range(layers)])
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x):
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.ln_pre(x).permute(1, 0, 2)  # NLD -> LND
        x = self.transformer(x).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


# ------------------------------------------------- VQGAN decoder (taming/modules/diffusionmodules)
def Normalize(c):
    return nn.GroupNorm(num_groups=32, num_channels=c, eps=1e-6, affine=True)


def nonlinearity(x):
    return x * torch.sigmoid(x)


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1, self.conv1 = Normalize(cin), nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2, self.conv2 = Normalize(cout), nn.Conv2d(cout, cout, 3, 1, 1)
        self.nin_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv1(nonlinearity(self.norm1(x)))
        h = self.conv2(nonlinearity(self.norm2(h)))  # dropout 0.0
        return (self.nin_shortcut(x) if self.nin_shortcut is not None else x) + h


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = Normalize(c)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        h = self.norm(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        b, c, hh, ww = q.shape
        q = q.reshape(b, c, hh * ww).permute(0, 2, 1)
        w_ = torch.bmm(q, k.reshape(b, c, hh * ww)) * (int(c) ** -0.5)
        w_ = F.softmax(w_, dim=2).permute(0, 2, 1)
        h = torch.bmm(v.reshape(b, c, hh * ww), w_).reshape(b, c, hh, ww)
        return x + self.proj_out(h)


class Decoder(nn.Module):
    def __init__(self, ch=128, out_ch=3, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=2,
                 attn_resolutions=(16,), resolution=256, z_channels=256):
        super().__init__()
        n = len(ch_mult)
        block_in = ch * ch_mult[-1]
        curr_res = resolution // 2 ** (n - 1)
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, 1, 1)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in)
        self.mid.attn_1 = AttnBlock(block_in)
        self.mid.block_2 = ResnetBlock(block_in, block_in)
        self.up = nn.ModuleList()
        for i_level in reversed(range(n)):
            block, attn = nn.ModuleList(), nn.ModuleList()
            block_out = ch * ch_mult[i_level]
            for _ in range(num_res_blocks + 1):
                block.append(ResnetBlock(block_in, block_out))
                block_in = block_out
                if curr_res in attn_resolutions:
                    attn.append(AttnBlock(block_in))
            up = nn.Module()
            up.block, up.attn = block, attn
            if i_level != 0:
                up.upsample = Upsample(block_in)
                curr_res *= 2
            self.up.insert(0, up)
        self.norm_out = Normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, out_ch, 3, 1, 1)

    def forward(self, z):
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(self.conv_in(z))))
        for i_level in reversed(range(len(self.up))):
            up = self.up[i_level]
            for i_block, block in enumerate(up.block):
                h = block(h)
                if len(up.attn) > 0:
                    h = up.attn[i_block](h)
            if i_level != 0:
                h = up.upsample(h)
        return self.conv_out(nonlinearity(self.norm_out(h)))


class VQDecode(nn.Module):
    """The parts of taming's VQModel a step uses: quantize.embedding, post_quant_conv, decoder."""

    def __init__(self, n_embed=16384, embed_dim=256, z_channels=256):
        super().__init__()
        self.embedding = nn.Embedding(n_embed, embed_dim)
        self.embedding.weight.data.uniform_(-1.0 / n_embed, 1.0 / n_embed)
        self.post_quant_conv = nn.Conv2d(embed_dim, z_channels, 1)
        self.decoder = Decoder(z_channels=z_channels)

    def decode(self, quant):
        return self.decoder(self.post_quant_conv(quant))


# ------------------------------------------------------------------- generate.py's helpers
class ReplaceGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_forward, x_backward):
        ctx.shape = x_backward.shape
        return x_forward

    @staticmethod
    def backward(ctx, grad_in):
        return None, grad_in.sum_to_size(ctx.shape)


class ClampWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.min, ctx.max = lo, hi
        ctx.save_for_backward(x)
        return x.clamp(lo, hi)

    @staticmethod
    def backward(ctx, grad_in):
        x, = ctx.saved_tensors
        return grad_in * (grad_in * (x - x.clamp(ctx.min, ctx.max)) >= 0), None, None


replace_grad, clamp_with_grad = ReplaceGrad.apply, ClampWithGrad.apply


def vector_quantize(x, codebook):
    d = x.pow(2).sum(dim=-1, keepdim=True) + codebook.pow(2).sum(dim=1) - 2 * x @ codebook.T
    x_q = F.one_hot(d.argmin(-1), codebook.shape[0]).to(d.dtype) @ codebook
    return replace_grad(x_q, x)


def spherical_dist_loss(embeds, target, weight=1.0, stop=-math.inf):
    """generate.py's Prompt.forward."""
    a = F.normalize(embeds.unsqueeze(1), dim=2)
    b = F.normalize(target.unsqueeze(0), dim=2)
    dists = a.sub(b).norm(dim=2).div(2).arcsin().pow(2).mul(2) * math.copysign(1, weight)
    return abs(weight) * replace_grad(dists, torch.clamp(dists, min=stop)).mean()


def uniform(lo, hi):
    return lo + (hi - lo) * torch.rand(()).item()


def homography(src, dst):
    """The 3x3 map taking 4 points src to dst (kornia get_perspective_transform)."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src.tolist(), dst.tolist()):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    h = torch.linalg.solve(torch.tensor(rows).double(), torch.tensor(rhs).double())
    return torch.cat([h, h.new_ones(1)]).reshape(3, 3)


class MakeCutouts(nn.Module):
    """cut_method 'latest', augments Af Pe Ji Er, noise_fac 0.1."""

    def __init__(self, cut_size, cutn, noise_fac=0.1):
        super().__init__()
        self.cut_size, self.cutn, self.noise_fac = cut_size, cutn, noise_fac
        self.av_pool = nn.AdaptiveAvgPool2d((cut_size, cut_size))
        self.max_pool = nn.AdaptiveMaxPool2d((cut_size, cut_size))

    def warps(self, s):
        """RandomAffine(15, .1, shear 5, p .7) then RandomPerspective(.7, p .7), per cutout."""
        t = torch.tensor
        c = (s - 1) / 2
        corners = t([[0, 0], [s - 1, 0], [s - 1, s - 1], [0, s - 1]], dtype=torch.float64)
        inward = t([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=torch.float64)
        mats = []
        for _ in range(self.cutn):
            m = torch.eye(3, dtype=torch.float64)
            if torch.rand(()) < 0.7:
                a, shx, shy = (math.radians(uniform(-d, d)) for d in (15, 5, 5))
                tx, ty = uniform(-0.1, 0.1) * s, uniform(-0.1, 0.1) * s
                rot = t([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
                shear = t([[1, math.tan(shx), 0], [math.tan(shy), 1, 0], [0, 0, 1.]])
                about = t([[1, 0, c + tx], [0, 1, c + ty], [0, 0, 1.]])
                back = t([[1, 0, -c], [0, 1, -c], [0, 0, 1.]])
                m = (about @ rot @ shear @ back).double() @ m
            if torch.rand(()) < 0.7:
                dst = corners + inward * torch.rand(4, 2, dtype=torch.float64) * 0.7 * s / 2
                m = homography(corners, dst) @ m
            mats.append(torch.linalg.inv(m))
        return torch.stack(mats).float()  # output pixel -> source pixel

    def colour(self):
        """ColorJitter(hue .1, saturation .1, p .7) as a 3x3 matrix (hue rotated in YIQ)."""
        yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322],
                            [0.211, -0.523, 0.312]])
        mats = []
        for _ in range(self.cutn):
            m = torch.eye(3)
            if torch.rand(()) < 0.7:
                sat, hue = uniform(0.9, 1.1), uniform(-0.1, 0.1) * 2 * math.pi
                sat_m = sat * torch.eye(3) + (1 - sat) * yiq[0].expand(3, 3)
                cos, sin = math.cos(hue), math.sin(hue)
                rot = torch.tensor([[1, 0, 0], [0, cos, -sin], [0, sin, cos]])
                m = torch.linalg.inv(yiq) @ rot @ yiq @ sat_m
            mats.append(m)
        return torch.stack(mats)

    def erase(self, s):
        """RandomErasing(scale .1-.4, ratio .3-3.3, p .7): 0 inside the box."""
        mask = torch.ones(self.cutn, 1, s, s)
        for i in range(self.cutn):
            if torch.rand(()) < 0.7:
                area = uniform(0.1, 0.4) * s * s
                ratio = math.exp(uniform(math.log(0.3), math.log(3.3)))
                h = min(s, round(math.sqrt(area * ratio)))
                w = min(s, round(math.sqrt(area / ratio)))
                y0, x0 = int(torch.randint(s - h + 1, ())), int(torch.randint(s - w + 1, ()))
                mask[i, :, y0:y0 + h, x0:x0 + w] = 0
        return mask

    def forward(self, x):
        s = self.cut_size
        cutouts = [(self.av_pool(x) + self.max_pool(x)) / 2 for _ in range(self.cutn)]
        batch = torch.cat(cutouts, dim=0)
        # affine + perspective: one homography per cutout applied through a sampling grid
        ys, xs = torch.meshgrid(torch.arange(s, dtype=torch.float32),
                                torch.arange(s, dtype=torch.float32), indexing="ij")
        pix = torch.stack([xs, ys, torch.ones_like(xs)], -1).reshape(-1, 3)
        src = torch.einsum("nij,pj->npi", self.warps(s), pix)
        grid = (src[..., :2] / src[..., 2:]) / (s - 1) * 2 - 1
        batch = F.grid_sample(batch, grid.reshape(self.cutn, s, s, 2), mode="bilinear",
                              padding_mode="zeros", align_corners=True)
        batch = torch.einsum("nij,njhw->nihw", self.colour(), batch)
        batch = batch * self.erase(s)
        facs = batch.new_empty([self.cutn, 1, 1, 1]).uniform_(0, self.noise_fac)
        return batch + facs * torch.randn_like(batch)


# ------------------------------------------------------------------------------ the benchmark
def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2 ** 20


def linear_gflops(rows, pairs=4):
    """CLIP's MLP products (768 -> 3072 -> 768, `pairs` times over) at this step's rows, as this torch runs them."""
    x, w1, w2 = torch.randn(rows, 768), torch.randn(3072, 768) * 0.02, torch.randn(768, 3072) * 0.02
    best = float("inf")
    for _ in range(4):
        t0 = time.perf_counter()
        y = x
        for _ in range(pairs):
            y = F.linear(F.linear(y, w1), w2)
        best = min(best, time.perf_counter() - t0)
    return round(pairs * 4 * rows * 768 * 3072 / best / 1e9, 1)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--cutn", type=int, default=32)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2,
                   help="untimed steps first (torch's second step was still the slowest in most runs here)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hold-params", type=int, default=0,
                   help="float32 parameters generate.py also keeps loaded but this step does not use "
                        "(CLIP's text tower, the VQGAN encoder): held so peak memory compares like with like")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    held = torch.randn(args.hold_params) if args.hold_params else None
    perceptor = VisionTransformer().eval().requires_grad_(False)
    model = VQDecode().eval().requires_grad_(False)
    make_cutouts = MakeCutouts(224, args.cutn)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    codebook = model.embedding.weight
    z_min = codebook.min(dim=0).values[None, :, None, None]
    z_max = codebook.max(dim=0).values[None, :, None, None]
    toks = args.size // 16
    idx = torch.randint(codebook.shape[0], [toks * toks])
    z = (F.one_hot(idx, codebook.shape[0]).float() @ codebook)
    z = z.view(1, toks, toks, -1).permute(0, 3, 1, 2).contiguous().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=0.1)
    target = torch.randn(1, 512)  # one text prompt's embedding
    base_rss = rss_mb()

    def step():
        opt.zero_grad(set_to_none=True)
        z_q = vector_quantize(z.movedim(1, 3), codebook).movedim(3, 1)
        out = clamp_with_grad(model.decode(z_q).add(1).div(2), 0, 1)
        iii = perceptor((make_cutouts(out) - mean) / std).float()
        loss = spherical_dist_loss(iii, target)
        loss.backward()
        opt.step()
        with torch.inference_mode():
            z.copy_(z.maximum(z_min).minimum(z_max))

    samples, cpu = [], []
    for i in range(args.warmup + args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        if i >= args.warmup:
            samples.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "secPerStep": statistics.median(samples),
        "stepSamples": samples,
        "cpuSecPerStep": statistics.median(cpu),  # all threads; shows contention from others
        "peakRssMB": peak_rss,
        "linearGflops": linear_gflops(args.cutn * 50),  # after the steps: outside their peak
        "baseRssMB": base_rss,
        "torch": torch.__version__, "threads": args.threads, "size": args.size, "cutn": args.cutn,
        "params": {"clip": sum(t.numel() for t in perceptor.parameters()),
                   "vqgan": sum(t.numel() for t in model.parameters()),
                   "heldUnused": 0 if held is None else held.numel()},
    }))


if __name__ == "__main__":
    main()
