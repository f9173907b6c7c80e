import torch
from stable_adamw_checkpoint import save_optimizer

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-2)
x, y = torch.randn(16, 4), torch.randn(16, 2)
for _ in range(5):
    optimizer.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    optimizer.step()

# Params ("params.0.weight", ...) and torch's AdamW state, as safetensors.
save_optimizer(optimizer, "run.safetensors", layout="torch-adamw", model=model, params=True)
