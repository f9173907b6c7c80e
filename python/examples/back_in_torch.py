import torch
from stable_adamw_checkpoint import load_optimizer

model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
optimizer = torch.optim.AdamW(model.parameters())
# Restores the params and the state JavaScript trained on, lr and weight decay included.
load_optimizer(optimizer, "from-js.safetensors", layout="torch-adamw", model=model, params=True)
print("step", int(optimizer.state[model[0].weight]["step"]), "lr", optimizer.param_groups[0]["lr"])
