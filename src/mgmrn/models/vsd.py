"""The Visual-Semantic Decoder (VSD), Eq. (8)-(10)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class VisualSemanticDecoder(nn.Module):
    """Attribute queries attend over a stage's tokens and score every attribute.

    Eq. (8): ``attn = softmax(q k^T / sqrt(d))`` with ``q = w_att W_q``, ``k = u W_k``.
    Eq. (9): ``p = attn v W_o`` with ``v = u W_v``.
    Eq. (10): ``z[s] = <p[s], V[s]>`` with ``V = w_att W_l`` (``embedding="paper"``) or a
    free learnable C-d vector per attribute (``"free"``, the reference code).

    The forward pass computes exactly these equations in a cheaper order: everything
    around the softmax is linear, so ``q k^T = (q W_k) u^T`` and
    ``z[s] = sum_t attn[s, t] <u_t, e_s>`` with ``e_s = W_v^T W_o^T V[s]``. The
    per-image cost drops from O(T C d + A C d) to O(A T C); :meth:`reference_forward`
    computes the equations in their written order and the tests check both agree.
    """

    def __init__(
        self,
        channels: int,
        word_dim: int,
        hidden: int = 1024,
        *,
        n_attributes: int = 0,
        embedding: str = "paper",
        scaled: bool = True,
    ) -> None:
        super().__init__()
        # Eq. (8)-(9) are linear maps without biases.
        self.q = nn.Linear(word_dim, hidden, bias=False)
        self.k = nn.Linear(channels, hidden, bias=False)
        self.v = nn.Linear(channels, hidden, bias=False)
        self.o = nn.Linear(hidden, channels, bias=False)
        self.scale = 1 / math.sqrt(hidden) if scaled else 1.0
        self.embedding = embedding
        self._folded_key: tuple | None = None
        self._folded_value: tuple[Tensor, Tensor] | None = None
        if embedding == "paper":
            self.w = nn.Linear(word_dim, channels, bias=False)  # W_l of Eq. (10)
        else:
            self.free = nn.Parameter(torch.randn(n_attributes, channels) / math.sqrt(channels))

    def attribute_embeddings(self, w_att: Tensor) -> Tensor:
        """V, (A, C): the vectors that turn p into attribute scores (Eq. 10)."""
        return self.w(w_att) if self.embedding == "paper" else self.free

    def folded(self, w_att: Tensor) -> tuple[Tensor, Tensor]:
        """The image-independent factors: ``q W_k`` (scaled) and ``e = V W_o W_v``, (A, C) each.

        They depend on parameters only, so without autograd they are computed once and
        reused until a parameter or ``w_att`` changes (checked through tensor versions).
        """
        key = None
        if not torch.is_grad_enabled():
            tensors = (w_att, *self.parameters())
            key = tuple((t.data_ptr(), t._version, t.device) for t in tensors)
            if self._folded_key == key:
                return self._folded_value  # type: ignore[return-value]
        qk = (self.q(w_att) @ self.k.weight) * self.scale  # folds W_k into the queries
        e = (self.attribute_embeddings(w_att) @ self.o.weight) @ self.v.weight
        self._folded_key, self._folded_value = key, ((qk, e) if key is not None else None)
        return qk, e

    def forward(self, tokens: Tensor, w_att: Tensor, return_attention: bool = False):
        """tokens (B, T, C), w_att (A, d_w) -> z (B, A) [, attention (B, A, T)]."""
        qk, e = self.folded(w_att)
        attn = torch.softmax(torch.einsum("ac,btc->bat", qk.to(tokens.dtype), tokens), dim=-1)
        value = torch.einsum("btc,ac->bat", tokens, e.to(tokens.dtype))  # <u_t, e_s>
        z = (attn * value).sum(-1)
        return (z, attn) if return_attention else z

    def reference_forward(self, tokens: Tensor, w_att: Tensor) -> Tensor:
        """Eq. (8)-(10) in their written order (slow; for tests)."""
        q = self.q(w_att)
        k = self.k(tokens)
        v = self.v(tokens)
        attn = torch.softmax(torch.einsum("ad,btd->bat", q, k) * self.scale, dim=-1)
        p = self.o(attn @ v)  # (B, A, C), Eq. (9)
        return (p * self.attribute_embeddings(w_att)).sum(-1)  # Eq. (10)
