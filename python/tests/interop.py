"""Torch halves of the cross-language tests (packages/core/src/checkpoint-torch.test.ts).

Run from python/: /usr/bin/python3 -m tests.interop <command> <dir>. Reads <dir>/input.json where
the command needs one, writes <dir>/output.json and checkpoints under <dir>.
"""

import json
import os
import sys

import torch

from stable_adamw_checkpoint import load_optimizer, save_optimizer
from tests.fake_optimi import StableAdamW

LR, BETAS, EPS, WD = 1e-2, (0.9, 0.999), 1e-8, 0.01


def flat(t):
    return t.detach().reshape(-1).tolist()


def continuation_grads(params, steps=5):
    """Gradients shrinking from the last real ones: StableAdamW's update clipping cannot trigger."""
    return [[flat(0.3 * 0.9**j * p.grad) for p in params] for j in range(steps)]


def continue_with(optimizer, params, grads):
    for step in grads:
        for p, g in zip(params, step):
            p.grad = torch.tensor(g, dtype=p.dtype).reshape(p.shape)
        optimizer.step()


def torch_to_js(out):
    """torch AdamW trains a small model for 5 steps, saves, then continues 5 steps on fixed gradients."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, betas=BETAS, eps=EPS, weight_decay=WD)
    for _ in range(5):
        optimizer.zero_grad()
        model(torch.randn(16, 4)).pow(2).mean().backward()
        optimizer.step()
    save_optimizer(optimizer, os.path.join(out, "torch.safetensors"), model=model, params=True)
    names = [name for name, _ in model.named_parameters()]
    params = list(model.parameters())
    grads = continuation_grads(params)
    continue_with(optimizer, params, grads)
    return {"names": names, "shapes": [list(p.shape) for p in params], "grads": grads, "after": [flat(p) for p in params]}


def js_to_torch(out, spec):
    """Loads the JS checkpoint (params included) into torch AdamW and continues on the given gradients."""
    params = [torch.nn.Parameter(torch.zeros(shape)) for shape in spec["shapes"]]
    optimizer = torch.optim.AdamW(params, lr=0.5)
    load_optimizer(optimizer, os.path.join(out, "js.safetensors"), names=spec["names"], params=True)
    group = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
    steps = [float(optimizer.state[p]["step"]) for p in params]
    continue_with(optimizer, params, spec["grads"])
    return {"group": {k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items()}, "steps": steps, "after": [flat(p) for p in params]}


def optimi_resave(out, spec):
    """Loads the JS 'optimi' checkpoint into an optimi-shaped optimizer and saves it again unchanged."""
    dtype = getattr(torch, spec["dtype"])
    params = [torch.zeros(shape, dtype=dtype) for shape in spec["shapes"]]
    groups = [{"params": [params[i] for i in g]} for g in spec["groups"]]
    optimizer = StableAdamW(groups, lr=123.0, gradient_release=spec.get("gradient_release", False))
    load_optimizer(optimizer, os.path.join(out, "js.safetensors"), names=spec.get("names"), params=True)
    state = []
    for p in params:
        s = optimizer.state.get(p, {})
        entry = {}
        for key in ("exp_avg", "exp_avg_sq", "kahan_comp"):
            value = s.get(key)
            if value is not None:
                entry[key] = {"dtype": str(value.dtype), "shape": list(value.shape), "values": flat(value.double())}
        if "step" in s:
            entry["step"] = int(s["step"])
        state.append(entry)
    save_optimizer(optimizer, os.path.join(out, "python.safetensors"), names=spec.get("names"), params=True)
    return {
        "state": state,
        "group_steps": [int(g["step"]) for g in optimizer.param_groups],
        "groups": [{k: v for k, v in g.items() if k in ("lr", "beta1", "beta2", "eps", "weight_decay", "decouple_lr", "max_lr")} for g in optimizer.param_groups],
    }


def main():
    command, out = sys.argv[1], sys.argv[2]
    spec = None
    if os.path.exists(os.path.join(out, "input.json")):
        with open(os.path.join(out, "input.json")) as f:
            spec = json.load(f)
    result = {"torch-to-js": lambda: torch_to_js(out), "js-to-torch": lambda: js_to_torch(out, spec), "optimi-resave": lambda: optimi_resave(out, spec)}[command]()
    with open(os.path.join(out, "output.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
