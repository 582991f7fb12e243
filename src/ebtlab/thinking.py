"""System 2 thinking: more descent steps and self-verification by energy, for any modality.

Self-verification runs N descents from different random starts on one energy function (so the
observed stream is computed once and shared by all N) and keeps, for each prediction, the
candidate that the model's own energy prefers.

Notation: B batch, S predictions per sequence, C candidate width, K descent steps.
"""

from typing import Literal

import torch

from ebtlab.descent import DescentResult

Selection = Literal["lowest_energy", "largest_drop"]


def state_energies(result: DescentResult) -> list[torch.Tensor]:
    """Return E(y_0) .. E(y_K), each (B, S): the energy of the candidate after each step.

    E(y_k) for k < K is the energy that step k evaluated; E(y_K) needs the descent's final
    energy evaluation.
    """
    if result.final_energies is None:
        raise ValueError("the descent did not evaluate the energy of its final candidate")
    return [*result.energies, result.final_energies]


class BestOfN:
    """Per prediction and per descent step, the best candidate among the descents added so far.

    "lowest_energy" prefers the lowest energy after the step; "largest_drop" prefers the largest
    fall from the starting energy. Ties keep the earlier descent.
    """

    def __init__(self, selection: Selection):
        self.selection = selection
        self.added = 0
        self.candidates: list[torch.Tensor] = []  # best y_1 .. y_K, each (B, S, C)
        self.energies: list[torch.Tensor] = []  # their energies E(y_1) .. E(y_K), each (B, S)
        self.scores: list[torch.Tensor] = []  # their selection scores, lower is better, each (B, S)

    def add(self, result: DescentResult) -> None:
        energies = state_energies(result)
        for k, candidate in enumerate(result.candidates):
            energy = energies[k + 1]
            score = energy if self.selection == "lowest_energy" else energy - energies[0]
            if self.added == 0:
                self.candidates.append(candidate.detach())
                self.energies.append(energy)
                self.scores.append(score)
                continue
            better = score < self.scores[k]  # (B, S)
            self.candidates[k] = torch.where(better.unsqueeze(-1), candidate.detach(), self.candidates[k])
            self.energies[k] = torch.where(better, energy, self.energies[k])
            self.scores[k] = torch.where(better, score, self.scores[k])
        self.added += 1
