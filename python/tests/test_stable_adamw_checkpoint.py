"""Run from the repository root: /usr/bin/python3 -m unittest discover -s python/tests -t python"""

import json
import os
import struct
import tempfile
import unittest

import torch

from stable_adamw_checkpoint import CheckpointError, load_optimizer, read_safetensors, save_optimizer, write_safetensors
from tests.fake_optimi import StableAdamW

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "..", "packages", "conformance", "fixtures", "golden")


def golden(name):
    with open(os.path.join(GOLDEN, name + ".json")) as f:
        return json.load(f)


class TempDir(unittest.TestCase):
    def setUp(self):
        self._dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self._dir.name, "ckpt.safetensors")

    def tearDown(self):
        self._dir.cleanup()


class SafetensorsFormat(unittest.TestCase):
    # Byte vectors from huggingface/safetensors' own tests (safetensors/src/tensor.rs).
    def test_reference_bytes(self):
        data = torch.arange(6, dtype=torch.float32)
        out = write_safetensors({"attn.0": data.reshape(1, 2, 3)})
        header = b'{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}'
        self.assertEqual(out, struct.pack("<Q", 64) + header + struct.pack("<6f", *range(6)))
        self.assertEqual(write_safetensors({}), bytes([8, 0, 0, 0, 0, 0, 0, 0, 123, 125]) + b" " * 6)
        self.assertEqual(
            write_safetensors({}, {"framework": "pt"}),
            struct.pack("<Q", 40) + b'{"__metadata__":{"framework":"pt"}}' + b" " * 5,
        )

    def test_round_trip_every_dtype_bit_for_bit(self):
        tensors = {
            "a": torch.tensor([1.5, -0.0, float("inf")], dtype=torch.bfloat16),
            "b": torch.tensor([[1e-7, 65504.0]], dtype=torch.float16),
            "c": torch.tensor(3.25, dtype=torch.float64),
            "d": torch.tensor([7, -9], dtype=torch.int64),
            "e": torch.rand(2, 3),
            "z": torch.zeros(0, 4),
        }
        back, metadata = read_safetensors(write_safetensors(tensors, {"k": "v"}))
        self.assertEqual(metadata, {"k": "v"})
        for name, tensor in tensors.items():
            self.assertEqual(back[name].dtype, tensor.dtype)
            self.assertEqual(back[name].shape, tensor.shape)
            self.assertTrue(torch.equal(back[name], tensor), name)

    def test_rejects_malformed_files(self):
        good = write_safetensors({"a": torch.ones(2)})
        for bad in [good[:5], good[:-1], good + b"\0", struct.pack("<Q", 10**9) + good[8:], good.replace(b"F32", b"Q32")]:
            with self.assertRaises(CheckpointError):
                read_safetensors(bad)
        dup = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
        with self.assertRaises(CheckpointError):
            read_safetensors(struct.pack("<Q", len(dup)) + dup + b"\0" * 4)


def model_pair(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1, bias=False))
    return model


def train(model, optimizer, steps, seed):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        optimizer.zero_grad()
        x = torch.randn(8, 4, generator=gen)
        model(x).pow(2).mean().backward()
        optimizer.step()


class TorchAdamW(TempDir):
    def test_round_trip_continues_bit_for_bit(self):
        a = model_pair(0)
        opt_a = torch.optim.AdamW(a.parameters(), lr=1e-2, weight_decay=0.1)
        train(a, opt_a, 3, seed=1)
        save_optimizer(opt_a, self.path, model=a, params=True)
        b = model_pair(5)
        opt_b = torch.optim.AdamW(b.parameters(), lr=1.0)
        load_optimizer(opt_b, self.path, model=b, params=True)
        self.assertEqual(opt_b.param_groups[0]["lr"], 1e-2)
        self.assertEqual(opt_b.param_groups[0]["betas"], (0.9, 0.999))
        train(a, opt_a, 2, seed=2)
        train(b, opt_b, 2, seed=2)
        for pa, pb in zip(a.parameters(), b.parameters()):
            self.assertTrue(torch.equal(pa, pb))

    def test_loads_by_name_when_param_order_changed(self):
        a = model_pair(0)
        opt_a = torch.optim.AdamW(a.parameters(), lr=1e-2)
        train(a, opt_a, 2, seed=1)
        save_optimizer(opt_a, self.path, model=a)
        b = model_pair(0)
        opt_b = torch.optim.AdamW(list(b.parameters())[::-1], lr=1e-2)
        load_optimizer(opt_b, self.path, model=b)
        for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
            self.assertTrue(torch.equal(opt_a.state[pa]["exp_avg"], opt_b.state[pb]["exp_avg"]), name)

    def test_refuses_a_layout_the_optimizer_does_not_keep(self):
        a = model_pair(0)
        with self.assertRaisesRegex(CheckpointError, "torch-adamw"):
            save_optimizer(torch.optim.AdamW(a.parameters()), self.path, layout="optimi")


def close(actual, expected, tolerance):
    atol, rtol = tolerance["atol"], tolerance["rtol"]
    return ((actual.double() - expected).abs() <= atol + rtol * expected.abs()).all().item()


class OptimiLayout(TempDir):
    def optimizer_at(self, scenario, k, dtype=torch.float32):
        """A fake-optimi optimizer holding golden step k's params and state, built by hand."""
        step = scenario["steps"][k - 1]
        params = [torch.tensor(values, dtype=dtype).reshape(p["shape"]) for values, p in zip(step["params"], scenario["params"])]
        options = dict(scenario["options"])
        if "betas" in options:
            options["betas"] = tuple(options["betas"])
        groups = []
        for g in scenario["groups"]:
            group = {key: value for key, value in g.items() if key != "params" and key != "betas"}
            if "betas" in g:
                group["beta1"], group["beta2"] = g["betas"]
            group["params"] = [params[i] for i in g["params"]]
            groups.append(group)
        opt = StableAdamW(groups, **options)
        for g, group in enumerate(opt.param_groups):
            group["setup"] = True
            group["step"] = torch.tensor(k, dtype=torch.int32)
            if step.get("lr"):
                group["lr"] = step["lr"][g]
        for i, p in enumerate(params):
            saved = step["state"][i]
            if saved is not None:
                opt.state[p].update(
                    exp_avg=torch.tensor(saved["exp_avg"], dtype=dtype).reshape(p.shape),
                    exp_avg_sq=torch.tensor(saved["exp_avg_sq"], dtype=dtype).reshape(p.shape),
                    eps_sq=torch.tensor(opt.param_groups[0]["eps"] ** 2, dtype=dtype),
                    kahan_comp=None,
                )
        return opt, params

    def test_golden_state_saved_and_loaded_continues_on_the_golden_trajectory(self):
        for name in ["defaults-f32", "param-groups-f32", "decoupled-lr-schedule-f32", "skipped-grads-f32"]:
            scenario = golden(name)
            k = 8
            saved_opt, _ = self.optimizer_at(scenario, k)
            save_optimizer(saved_opt, self.path, params=True)
            fresh = [torch.zeros(p["shape"]) for p in scenario["params"]]
            groups = [{"params": [fresh[i] for i in g["params"]]} for g in scenario["groups"]]
            opt = StableAdamW(groups, lr=123.0)
            load_optimizer(opt, self.path, params=True)
            for step in scenario["steps"][k:]:
                for g, group in enumerate(opt.param_groups):
                    if step.get("lr"):
                        group["lr"] = step["lr"][g]
                for p, grad in zip(fresh, step["grads"]):
                    p.grad = None if grad is None else torch.tensor(grad).reshape(p.shape)
                opt.step()
                for p, expected in zip(fresh, step["params"]):
                    self.assertTrue(close(p.reshape(-1), torch.tensor(expected, dtype=torch.float64), scenario["tolerance"]), name)

    def test_bf16_kahan_state_survives_bit_for_bit(self):
        torch.manual_seed(3)
        params = [torch.randn(5, 3).to(torch.bfloat16), torch.randn(7).to(torch.bfloat16)]
        opt = StableAdamW(params, lr=1e-3, weight_decay=0.0)
        for _ in range(4):
            for p in params:
                p.grad = torch.randn(p.shape).to(torch.bfloat16)
            opt.step()
        save_optimizer(opt, self.path, params=True)
        fresh = [torch.zeros_like(p) for p in params]
        opt2 = StableAdamW(fresh, lr=1.0)
        load_optimizer(opt2, self.path, params=True)
        for p, q in zip(params, fresh):
            self.assertTrue(torch.equal(p.view(torch.int16), q.view(torch.int16)))
            for key in ["exp_avg", "exp_avg_sq", "kahan_comp"]:
                self.assertEqual(opt2.state[q][key].dtype, torch.bfloat16)
                self.assertTrue(torch.equal(opt.state[p][key].view(torch.int16), opt2.state[q][key].view(torch.int16)), key)
            self.assertTrue(torch.count_nonzero(opt.state[p]["kahan_comp"]).item() > 0)
        self.assertEqual(int(opt2.param_groups[0]["step"]), 4)


if __name__ == "__main__":
    unittest.main()
