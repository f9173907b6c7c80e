"""A stand-in for optimi's StableAdamW (not installable offline): the same constructor, group keys
and per-param state keys as optimi 0.3.3 (see shared/optimi-spec.md §2–3), and its for-loop math
(§1), written from the spec. Tests use it to exercise the 'optimi' layout against optimi's golden
trajectories."""

import torch

_HALF = (torch.float16, torch.bfloat16)


def _debias(beta, t):
    return (beta**t - beta) / (beta**t - 1)


class StableAdamW(torch.optim.Optimizer):
    def __init__(self, params, lr, betas=(0.9, 0.99), weight_decay=1e-2, eps=1e-6, decouple_lr=False, max_lr=None,
                 kahan_sum=None, foreach=None, triton=None, gradient_release=False):
        if decouple_lr and max_lr is None:
            max_lr = lr
        defaults = dict(lr=lr, beta1=betas[0], beta2=betas[1], eps=eps, weight_decay=weight_decay,
                        decouple_lr=decouple_lr, max_lr=max_lr, kahan_sum=kahan_sum, foreach=foreach, triton=triton,
                        gradient_release=gradient_release, setup=False)
        super().__init__(params, defaults)

    def _init_state(self, group, state, p):
        if "kahan_comp" in state:
            return
        state["exp_avg"] = torch.zeros_like(p)
        state["exp_avg_sq"] = torch.zeros_like(p)
        state["eps_sq"] = torch.tensor(group["eps"] ** 2, dtype=p.dtype)
        if (group["kahan_sum"] or group["kahan_sum"] is None) and p.dtype in _HALF:
            state["kahan_comp"] = torch.zeros_like(p)
            group["kahan_sum"] = True
        else:
            state["kahan_comp"] = None
        if group["gradient_release"]:
            state["step"] = torch.tensor(0, dtype=torch.int32)

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            for p in params:
                self._init_state(group, self.state[p], p)
            if not group["setup"]:
                group["setup"] = True
                group["step"] = torch.tensor(0, dtype=torch.int32)
            group["step"] += 1
            t = int(group["step"].item())
            for p in params:
                self._update(p, p.grad, self.state[p], group, t)

    def _update(self, p, g, state, group, t):
        b1h, b2h = _debias(group["beta1"], t), _debias(group["beta2"], t)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.lerp_(g, 1 - b1h)
        v.mul_(b2h).addcmul_(g, g, value=1 - b2h)
        rms = g.pow(2).div_(v.maximum(state["eps_sq"])).mean().sqrt().item()
        eta = group["lr"] / max(1, rms)
        if group["weight_decay"] != 0:
            per_lr = group["weight_decay"] / group["max_lr"] if group["decouple_lr"] else group["weight_decay"]
            p.mul_(1 - eta * per_lr)
        k = state["kahan_comp"]
        if k is not None and group["kahan_sum"] and p.dtype in _HALF:
            k.addcdiv_(m, v.sqrt().add_(group["eps"]), value=-eta)
            old = p.clone()
            p.add_(k)
            k.add_(old.sub_(p))
        else:
            p.addcdiv_(m, v.sqrt().add_(group["eps"]), value=-eta)
