"""A replay buffer of recent final candidates, so later batches can restart descent from them.

Notation: R stored rows, S units per sequence, C candidate width.
"""

import torch


class ReplayBuffer:
    """The most recent `capacity` rows (observed units, targets, final candidate), kept on the CPU.

    Rows live in preallocated ring tensors, so memory stays at `capacity` rows whatever the
    training length. The state is plain tensors and integers, safe for `weights_only` loading.
    """

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"a replay buffer needs a capacity of at least 1 row, got {capacity}")
        self.capacity = capacity
        self.rows: dict[str, torch.Tensor] = {}  # name -> (capacity, ...) ring storage
        self.size = 0  # rows stored
        self.next_row = 0  # ring index that the next row overwrites

    def __len__(self) -> int:
        return self.size

    def add(self, observed: torch.Tensor, target: torch.Tensor, candidate: torch.Tensor) -> None:
        """Store detached CPU copies of a batch's rows, overwriting the oldest rows when full."""
        batch = {"observed": observed, "target": target, "candidate": candidate}
        if not self.rows:
            self.rows = {name: torch.empty((self.capacity, *tensor.shape[1:]), dtype=tensor.dtype) for name, tensor in batch.items()}
        count = min(target.shape[0], self.capacity)
        slots = (self.next_row + torch.arange(count)) % self.capacity
        for name, tensor in batch.items():
            self.rows[name][slots] = tensor[-count:].detach().to("cpu", self.rows[name].dtype)
        self.next_row = int(slots[-1] + 1) % self.capacity
        self.size = min(self.size + count, self.capacity)

    def sample(self, count: int, device: torch.device, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Draw `count` distinct stored rows (fewer if fewer are stored) as a batch on `device`."""
        chosen = torch.randperm(self.size, generator=generator)[: min(count, self.size)]
        return {name: tensor[chosen].to(device) for name, tensor in self.rows.items()}

    def state_dict(self) -> dict:
        return {"capacity": self.capacity, "size": self.size, "next_row": self.next_row, "rows": {name: tensor[: self.size].clone() for name, tensor in self.rows.items()}}

    def load_state_dict(self, state: dict) -> None:
        if state["capacity"] != self.capacity:
            raise ValueError(f"replay buffer state has capacity {state['capacity']}, this buffer {self.capacity}")
        self.size, self.next_row = state["size"], state["next_row"]
        self.rows = {}
        for name, stored in state["rows"].items():
            self.rows[name] = torch.empty((self.capacity, *stored.shape[1:]), dtype=stored.dtype)
            self.rows[name][: self.size] = stored
