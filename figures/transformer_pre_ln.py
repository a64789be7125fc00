"""A pre-LN network through the bridge to the Pre-LN dynamics (arXiv 2510.22026 Table 1; arXiv
2512.01868 §6.2), on synthetic weights: no package on the registries we can reach ships a
pre-LN model's weights (README).

A random pre-LN encoder (RMSNorm with gains 1 + 0.1 N(0, 1), d = 64, 4 heads, 24 layers, no biases,
weights N(0, 1/d), W^O scaled by 0.5, seed 0) applied to n = 32 random tokens of norm ~ 1. Its
layers are mapped to ``Dynamics(norm="pre")`` by :func:`particles.transformer.bridge.pre_layer_dynamics`
(Q = W^Q G, K = W^K G, V = sqrt(d) W^O W^V G, β = d/sqrt(d_k)).

(a) the mean <θ_i, θ_j> of the directions through depth: the network with attention only (no
feed-forward), the Euler scheme with dt = 1 of the Pre-LN dynamics (the same numbers), and the
continuous flow through the same layers (RK4, 8 steps per layer); the network with its feed-forward
against the flow of attention + feed-forward. (b) the mean stream norm |h_i|, which grows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from particles.plotting import new_figure
from particles.plotting.figures import run_script, save_drawn, script_main
from particles.transformer import bridge
from particles.transformer.depth import depth_stats

HERE = Path(__file__).resolve().parent


def encoder(ffn: bool, layers: int, seed: int = 0, d: int = 64, H: int = 4, inter: int = 128):
    from particles.transformer.model import Encoder, EncoderConfig, LayerWeights

    rng = np.random.default_rng(seed)
    cfg = EncoderConfig(
        vocab_size=64,
        hidden_size=d,
        num_layers=layers,
        num_heads=H,
        intermediate_size=inter,
        activation="gelu",
        norm="rmsnorm",
        norm_position="pre",
        position="none",
        eps=1e-12,
    )

    def f(*s):
        return rng.standard_normal(s) / np.sqrt(s[-1])

    lws = []
    for _ in range(layers):
        wq, wk, wv, wo = f(d, d), f(d, d), f(d, d), 0.5 * f(d, d)
        w1, w2 = f(inter, d), f(d, inter)
        lws.append(
            LayerWeights(
                wq=wq, bq=None, wk=wk, bk=None, wv=wv, bv=None, wo=wo, bo=None,
                n1_w=1 + 0.1 * rng.standard_normal(d), n1_b=None, w1=w1, b1=None,
                w2=(0.3 if ffn else 0.0) * w2, b2=None, n2_w=np.ones(d), n2_b=None,
            )
        )  # fmt: skip
    emb = rng.standard_normal((64, d)) / np.sqrt(d)
    return Encoder(config=cfg, word_embeddings=emb, layers=tuple(lws))


def compute(quick: bool = False) -> tuple[dict, dict]:
    L = 6 if quick else 24
    ids = np.arange(32) if not quick else np.arange(12)
    data: dict = {"layer": np.arange(L + 1)}
    for ffn in (False, True):
        enc = encoder(ffn, L)
        hid = enc.hidden_states(ids)  # no final norm: the residual stream
        key = "ffn" if ffn else "att"
        euler = bridge.ode_stream(enc, hid[0], L, ffn=ffn)
        flow = bridge.ode_stream(enc, hid[0], L, ffn=ffn, method="rk4", steps_per_layer=8)
        data[f"{key}_net_mean"] = depth_stats(hid).mean
        data[f"{key}_euler_mean"] = depth_stats(euler).mean
        data[f"{key}_flow_mean"] = depth_stats(flow).mean
        data[f"{key}_net_norm"] = np.linalg.norm(hid, axis=-1).mean(axis=1)
        data[f"{key}_euler_norm"] = np.linalg.norm(euler, axis=-1).mean(axis=1)
        data[f"{key}_flow_norm"] = np.linalg.norm(flow, axis=-1).mean(axis=1)
        data[f"{key}_net_vs_euler"] = np.abs(euler - hid).max(axis=(1, 2))  # per layer
        data[f"{key}_max_net_vs_euler"] = np.array(np.abs(euler - hid).max())
    enc = encoder(False, L)
    data["beta"] = np.array(enc.config.hidden_size / np.sqrt(enc.config.head_dim))
    data["eff_beta"] = bridge.effective_betas(enc, 0)
    meta = {"layers": L, "n": int(ids.size), "d": 64, "heads": 4, "seed": 0}
    return data, meta


def plot(data: dict, meta: dict, path: Path) -> Path:
    fig = new_figure((11, 4.3))
    axa, axb = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    lay = data["layer"]
    for key, c, lab in (("att", "C0", "attention only"), ("ffn", "C3", "attention + FFN")):
        for ax, q in ((axa, "mean"), (axb, "norm")):
            ax.plot(lay, data[f"{key}_net_{q}"], "o", color=c, mfc="none", label=f"network, {lab}")
            ax.plot(lay, data[f"{key}_euler_{q}"], "-", color=c, lw=1, label="Pre-LN Euler, dt = 1")
            ax.plot(lay, data[f"{key}_flow_{q}"], "--", color=c, lw=1.3, label="Pre-LN flow (RK4)")
    axa.set_xlabel("layer ℓ (time t = ℓ)")
    axa.set_ylabel(r"mean $\langle\theta_i,\theta_j\rangle$")
    axa.set_title("(a) directions through depth")
    axa.legend(fontsize=7)
    axb.set_xlabel("layer ℓ (time t = ℓ)")
    axb.set_ylabel("mean |h_i| (residual stream)")
    axb.set_title("(b) the stream grows")
    fig.suptitle(
        f"Synthetic pre-LN network (d = {meta['d']}, {meta['heads']} heads, RMSNorm, n = "
        f"{meta['n']}) vs Dynamics(norm='pre')",
        fontsize=10,
    )
    return save_drawn(fig, path)


main = script_main(__file__, compute, plot)


# the numbers figures/README.md quotes (figures/claims.py checks them)
def claims(a: dict, meta: dict) -> dict:
    """The numbers figures/README.md quotes, from the saved arrays."""
    L = int(meta["layers"])
    c: dict = {"layers": L, "beta": float(meta["d"] / np.sqrt(meta["d"] / meta["heads"]))}
    c["att_net_vs_euler"] = float(a["att_net_vs_euler"].max())
    c["att_mean_5"] = float(a["att_net_mean"][5])
    c["att_flow_mean_5"] = float(a["att_flow_mean"][5])
    c["att_net_mean_end"] = float(a["att_net_mean"][-1])
    c["att_flow_mean_end"] = float(a["att_flow_mean"][-1])
    c["ffn_net_mean_end"] = float(a["ffn_net_mean"][-1])
    c["ffn_flow_mean_end"] = float(a["ffn_flow_mean"][-1])
    c["att_norm_end"] = float(a["att_net_norm"][-1])
    c["att_norm_slope"] = float(np.polyfit(a["layer"], a["att_net_norm"], 1)[0])
    c["ffn_euler_err_mean"] = float(np.max(np.abs(a["ffn_euler_mean"] - a["ffn_net_mean"])))
    return c


if __name__ == "__main__":
    run_script(main, __doc__, HERE)
