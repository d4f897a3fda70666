"""Reference numbers for Tests/MoonTrainTests (distillation losses, SFT, PPO), computed with PyTorch in float64.

Run: python3 scripts/make_train_references.py   (needs torch). The printed numbers are pasted into the Swift tests.
Inputs are deterministic formulas so the Swift tests rebuild them exactly:
  student[i] = 2 sin(0.7 i + 0.3), teacher[i] = 1.5 cos(1.3 i), i = flat index over shape [2, 3, 5]
  mask = [[1, 1, 0], [1, 0, 1]]
"""
import math
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
B, T, V = 2, 3, 5
n = B * T * V
student = torch.tensor([2 * math.sin(0.7 * i + 0.3) for i in range(n)]).reshape(B, T, V)
teacher = torch.tensor([1.5 * math.cos(1.3 * i) for i in range(n)]).reshape(B, T, V)
mask = torch.tensor([[1., 1., 0.], [1., 0., 1.]])


def gjsd(s_logits, t_logits, beta, temperature=1.0):
    """TRL GKDTrainer.generalized_jsd_loss, reduction none, summed over the vocabulary."""
    s = F.log_softmax(s_logits / temperature, dim=-1)
    t = F.log_softmax(t_logits / temperature, dim=-1)
    if beta == 0:
        jsd = F.kl_div(s, t, reduction="none", log_target=True)
    elif beta == 1:
        jsd = F.kl_div(t, s, reduction="none", log_target=True)
    else:
        b = torch.tensor(beta)
        m = torch.logsumexp(torch.stack([s + torch.log(1 - b), t + torch.log(b)]), dim=0)
        jsd = b * F.kl_div(m, t, reduction="none", log_target=True) + (1 - b) * F.kl_div(m, s, reduction="none", log_target=True)
    return jsd.sum(-1)


def topk_restrict(s_logits, t_logits, k):
    idx = t_logits.topk(k, dim=-1).indices
    return s_logits.gather(-1, idx), t_logits.gather(-1, idx)


def fmt(x):
    return "[" + ", ".join(f"{v:.9g}" for v in x.flatten().tolist()) + "]"


def masked_mean(v):
    return (v * mask).sum() / mask.sum()


print("forward per-token:", fmt(gjsd(student, teacher, 0.0)))
print("reverse per-token:", fmt(gjsd(student, teacher, 1.0)))
print("jsd 0.5 per-token:", fmt(gjsd(student, teacher, 0.5)))
print("jsd 0.3 T=2 per-token:", fmt(gjsd(student, teacher, 0.3, temperature=2.0)))
print("forward masked mean:", f"{masked_mean(gjsd(student, teacher, 0.0)).item():.9g}")
print("reverse masked mean:", f"{masked_mean(gjsd(student, teacher, 1.0)).item():.9g}")
s3, t3 = topk_restrict(student, teacher, 3)
print("reverse top3 per-token:", fmt(gjsd(s3, t3, 1.0)))
print("forward top3 T=2 per-token:", fmt(gjsd(s3, t3, 0.0, temperature=2.0)))

# gradient of the masked-mean reverse KL and JSD(0.5) with respect to the student logits
for name, beta in [("reverse", 1.0), ("jsd0.5", 0.5)]:
    s = student.clone().requires_grad_(True)
    masked_mean(gjsd(s, teacher, beta)).backward()
    print(f"grad {name} masked mean:", fmt(s.grad))

# SFT: cross-entropy of targets under the student logits, masked mean
targets = torch.tensor([[0, 3, 1], [4, 2, 2]])
nll = -F.log_softmax(student, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
print("sft per-token nll:", fmt(nll))
print("sft masked mean:", f"{masked_mean(nll).item():.9g}")

# PPO: RL4VLM-style loss on a constructed batch
new_a = torch.tensor([-1.0, -2.0, -0.5, -3.0], requires_grad=True)
new_t = torch.tensor([-4.0, -1.0, -2.0, -2.5], requires_grad=True)
old_a = torch.tensor([-1.2, -1.5, -0.5, -3.3])
old_t = torch.tensor([-4.1, -1.2, -2.4, -2.0])
adv = torch.tensor([1.0, -0.5, 2.0, 0.7])
ret = torch.tensor([0.5, 1.0, -0.2, 0.3])
val = torch.tensor([0.4, 0.7, 0.1, 0.6], requires_grad=True)
coef, clip = 0.5, 0.1
logr = (new_a + coef * new_t) - (old_a + coef * old_t)
ratio = logr.exp()
pl = -torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv).mean()
vl = 0.5 * (val - ret).pow(2).mean()
loss = pl + 0.5 * vl
loss.backward()
print("ppo ratio:", fmt(ratio))
print("ppo policy loss:", f"{pl.item():.9g}", "value loss:", f"{vl.item():.9g}", "loss:", f"{loss.item():.9g}")
print("ppo approx kl:", f"{((ratio - 1) - logr).mean().item():.9g}")
print("ppo grad new_a:", fmt(new_a.grad), "grad new_t:", fmt(new_t.grad), "grad val:", fmt(val.grad))

# Self-BLEU (nltk sentence_bleu, 4-gram uniform weights, smoothing method1 and none) over whitespace tokens, lower-cased
try:
    from nltk.translate.bleu_score import sentence_bleu, SmoothingFunction
    import warnings
    warnings.filterwarnings("ignore")
    texts = ["I have 5 and 7 so 5 + 7 = 12", "I have 5 and 7 so 7 + 5 = 12", "the cards are 2 and 6 so 2 * 6 = 12",
             "I have 5 and 7 so 5 + 7 = 12", "hit"]
    toks = [t.lower().split() for t in texts]
    for name, sm in [("method1", SmoothingFunction().method1), ("none", None)]:
        scores = [sentence_bleu([r for j, r in enumerate(toks) if j != i], h, smoothing_function=sm) for i, h in enumerate(toks)]
        print(f"self-bleu {name}:", [f"{s:.9g}" for s in scores], f"mean {sum(scores) / len(scores):.9g}")
except ImportError:
    print("nltk not installed: skipping self-BLEU references")
