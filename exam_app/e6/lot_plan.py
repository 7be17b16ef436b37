"""How the copies are shared out among the correcteurs: nobody marks a copy from
their own establishment, and the largest lot is as small as possible.

Pure computation on ids (no database): a max-flow, small graphs."""

from __future__ import annotations

import math
from collections import defaultdict

from exam_app.e6.common import LotPlanError


def plan_lots(copies: list[tuple[int, int]], markers: list[tuple[int, int | None]]
              ) -> dict[int, list[int]]:
    """Assign copies to correcteurs: nobody gets a copy from their own establishment, and
    the largest lot is as small as possible (a max-flow per candidate capacity).

    ``copies``: (copy_id, establishment_id); ``markers``: (user_id, establishment_id).
    Returns user_id -> copy ids (sorted). Deterministic for a given input.
    """
    if not markers:
        raise LotPlanError("Aucun correcteur n'est inscrit pour cette session.")
    by_establishment: dict[int, list[int]] = defaultdict(list)
    for copy_id, establishment_id in sorted(copies):
        by_establishment[establishment_id].append(copy_id)
    establishments = sorted(by_establishment)
    orphans = [e for e in establishments if all(m[1] == e for m in markers)]
    if orphans:
        raise LotPlanError(
            "Aucun correcteur ne peut corriger certaines copies : tous les correcteurs "
            "enseignent dans leur établissement. Inscrivez un correcteur d'un autre "
            "établissement.")
    n, k = len(copies), len(markers)
    if n == 0:
        return {m[0]: [] for m in markers}
    flow = _LotFlow(by_establishment, establishments, markers)
    # Fill every lot up to n // k first, then raise the cap: flow into a correcteur
    # never decreases while augmenting, so small lots stay as full as possible.
    flow.augment(n // k)
    cap = math.ceil(n / k)
    while flow.total() < n:
        flow.augment(cap)
        cap += 1
    counts = flow.counts()
    lots: dict[int, list[int]] = {m[0]: [] for m in markers}
    for establishment in establishments:
        pool = iter(by_establishment[establishment])
        for marker_id, _ in markers:
            for _ in range(counts.get((establishment, marker_id), 0)):
                lots[marker_id].append(next(pool))
    return {marker: sorted(ids) for marker, ids in lots.items()}


class _LotFlow:
    """Edmonds–Karp on source -> establishment (its copies) -> allowed correcteur ->
    sink (the lot cap). Small graphs: a few dozen establishments and correcteurs."""

    SOURCE, SINK = ("s",), ("t",)

    def __init__(self, by_establishment, establishments, markers):
        self.capacity: dict = defaultdict(lambda: defaultdict(int))
        self.flow: dict = defaultdict(lambda: defaultdict(int))
        self.establishments = establishments
        self.markers = markers
        for e in establishments:
            self.capacity[self.SOURCE][("e", e)] = len(by_establishment[e])
            for marker_id, marker_establishment in markers:
                if marker_establishment != e:
                    self.capacity[("e", e)][("m", marker_id)] = len(by_establishment[e])
        self.nodes = ([self.SOURCE] + [("e", e) for e in establishments]
                      + [("m", m) for m, _ in markers] + [self.SINK])

    def _residual(self, u, v) -> int:
        return self.capacity[u][v] - self.flow[u][v] + self.flow[v][u]

    def total(self) -> int:
        return sum(self.flow[self.SOURCE][("e", e)] for e in self.establishments)

    def counts(self) -> dict[tuple[int, int], int]:
        return {(e, m): self.flow[("e", e)][("m", m)] for e in self.establishments
                for m, _ in self.markers if self.flow[("e", e)][("m", m)] > 0}

    def augment(self, cap: int) -> None:
        for marker_id, _ in self.markers:
            self.capacity[("m", marker_id)][self.SINK] = cap
        while True:
            parent = {self.SOURCE: None}
            queue = [self.SOURCE]
            while queue and self.SINK not in parent:
                u = queue.pop(0)
                for v in self.nodes:
                    if v not in parent and self._residual(u, v) > 0:
                        parent[v] = u
                        queue.append(v)
            if self.SINK not in parent:
                return
            path, v = [], self.SINK
            while parent[v] is not None:
                path.append((parent[v], v))
                v = parent[v]
            push = min(self._residual(u, v) for u, v in path)
            for u, v in path:
                back = min(push, self.flow[v][u])
                self.flow[v][u] -= back
                self.flow[u][v] += push - back
