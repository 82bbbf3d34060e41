"""QA-CLIMS training losses: region contrastive losses (L_FRC, L_BRC) and area regularisation.

Notation, for positive pair p (an image b with a present class c):

* ``v_p``: the CLIP image feature of the masked region (foreground for L_FRC, background for L_BRC);
* ``t_p``: the class text feature;
* ``b_pj``: the background-answer text features of the pair, ``bg_valid[p, j]`` saying which of
  the M padded rows are real;
* ``s(u, v) = (u / |u|) . v``, τ the temperature (0.7 in the reference).

As in the reference (QA clip_loss.py), only the image feature is normalised: the text features are
used as given. ``t_p`` is deliberately *not* renormalised, which changes its effective temperature;
the background rows are unit-norm from the corpus and are not renormalised either.

Both losses are computed in log space and vectorised over pairs and background texts. A pair with no
valid background text contributes nothing to either loss (the reference skips it), and the losses are
summed over the pairs given, not averaged, as each reference rank sums them over its own batch.
qaclims.cam.ritc_objective scales these sums to the reference's per-rank batch, so that the objective does not
depend on how the global batch is split over processes.
"""

import torch
import torch.nn.functional as F


def _pair_log_terms(image_feats, fg_text, bg_text, bg_valid, temperature):
    """Per-pair log-space terms shared by both losses.

    Returns ``(pos, lse_bg, log_count, has_bg)``, each of shape [P]:
    ``pos = s(v_p, t_p)/τ``; ``lse_bg = log Σ_{j valid} exp(s(v_p, b_pj)/τ)``;
    ``log_count = log(#valid j)``; ``has_bg`` = the pair has at least one valid background text.
    For pairs without background text ``lse_bg`` is a finite dummy (the callers drop those pairs):
    a row of only -inf inside logsumexp would give NaN gradients.
    """
    num_pairs, dim = image_feats.shape
    if fg_text.shape != (num_pairs, dim):
        raise ValueError(f"fg_text shape {tuple(fg_text.shape)} does not match image_feats "
                         f"{tuple(image_feats.shape)}")
    if bg_text.dim() != 3 or bg_text.shape[0] != num_pairs or bg_text.shape[2] != dim:
        raise ValueError(f"bg_text shape {tuple(bg_text.shape)} is not [P={num_pairs}, M, D={dim}]")
    if bg_valid.shape != bg_text.shape[:2]:
        raise ValueError(f"bg_valid shape {tuple(bg_valid.shape)} is not {tuple(bg_text.shape[:2])}")
    bg_valid = bg_valid.to(device=image_feats.device, dtype=torch.bool)

    v = F.normalize(image_feats, dim=-1)
    pos = (v * fg_text).sum(-1) / temperature                       # [P]
    neg = torch.einsum("pd,pmd->pm", v, bg_text) / temperature       # [P, M]

    has_bg = bg_valid.any(dim=1)                                     # [P]
    logits = neg.masked_fill(~bg_valid, float("-inf"))
    logits = logits.masked_fill(~has_bg[:, None], 0.0)               # finite dummy rows
    lse_bg = torch.logsumexp(logits, dim=1)
    log_count = bg_valid.sum(dim=1).clamp(min=1).to(neg.dtype).log()
    return pos, lse_bg, log_count, has_bg


def _sum_over_pairs_with_bg(per_pair, has_bg):
    """Sum ``per_pair`` over pairs that have background text.

    torch.where (not a multiplication by 0) drops the other pairs, so a dummy value cannot leak
    NaN into the result. The sum stays connected to the graph of the image features even when it
    is empty or all pairs are dropped, so backward works and DDP sees every parameter.
    """
    return torch.where(has_bg, per_pair, torch.zeros_like(per_pair)).sum()


def foreground_region_contrastive_loss(image_feats, fg_text, bg_text, bg_valid, temperature):
    """L_FRC (reference InfoNCELossFG): pull the foreground region to its class text.

    ``L(p) = -log( e^{s(v_p,t_p)/τ} / (e^{s(v_p,t_p)/τ} + Σ_{j valid} e^{s(v_p,b_pj)/τ}) )``
    ``      = logaddexp(lse_bg, pos) - pos``.

    The negatives are *summed* over the pair's valid background texts, as in the reference.

    Args:
        image_feats: [P, D] foreground-region image features (normalised here).
        fg_text: [P, D] class text features (used as given).
        bg_text: [P, M, D] background text features, padded (used as given).
        bg_valid: [P, M] bool, True for real background rows.
        temperature: τ.

    Returns:
        Scalar: the sum over pairs with at least one valid background text; 0 if there is none.
    """
    pos, lse_bg, _, has_bg = _pair_log_terms(image_feats, fg_text, bg_text, bg_valid, temperature)
    return _sum_over_pairs_with_bg(torch.logaddexp(lse_bg, pos) - pos, has_bg)


def background_region_contrastive_loss(image_feats, fg_text, bg_text, bg_valid, temperature):
    """L_BRC (reference InfoNCELossBG): pull the background region to the background texts.

    With ``m_p = mean_{j valid} e^{s(v_p,b_pj)/τ}`` (a log-mean-exp: ``lse_bg - log(count)``):
    ``L(p) = -log( m_p / (m_p + e^{s(v_p,t_p)/τ}) ) = logaddexp(log m_p, pos) - log m_p``.

    The background positives are *averaged* over the valid texts, as in the reference (whereas
    L_FRC sums them as negatives). Here ``image_feats`` are the background-region features.

    Args and return as for :func:`foreground_region_contrastive_loss`.
    """
    pos, lse_bg, log_count, has_bg = _pair_log_terms(image_feats, fg_text, bg_text, bg_valid,
                                                     temperature)
    log_mean_bg = lse_bg - log_count
    return _sum_over_pairs_with_bg(torch.logaddexp(log_mean_bg, pos) - log_mean_bg, has_bg)


def area_loss(cams):
    """L_REG: the mean of all sigmoid CAM values given ([B, C, h, w]).

    As in the reference, absent classes are included, so every class map is pushed down.
    """
    return cams.mean()
