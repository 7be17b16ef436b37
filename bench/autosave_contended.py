"""The autosave benchmark's contended case: both jurors of a pair saving the mark of the
SAME agreed grid and validating it, at once, passage after passage (issue 11).

Each juror saves the mark now and then (compare-and-set on the version it last
saw) and otherwise validates at the revision it last saw; told that the grid
changed (a conflict, or a refused validation), it reads the passage's state as the
screen's poll would, then goes on. Once its own validation of a revision went
through, it does not validate that revision again (``jury-passage.js`` disables the
button: "Vous avez validé"): its page reads the state (the poll its push brings when
the passage changes), and if that shows the other juror has not validated yet, the
juror changes the mark (a save), which calls for both validations again.
Until 2 Dec 2026 the bench re-validated the same revision in a loop, which the
screen never sends. Expected refusals are not errors: a conflict, a validation of a revision
that changed meanwhile, a save or validation of a mark that turned final (the
juror then moves on to the pair's next passage). Errors: any other status.
Lost: an acknowledged write missing from the grid, or a final mark that differs
from the agreed grid's mark or from what both jurors validated.

Latency is sampled per HTTP request (``samples``), as the bare endpoint's is: a
juror's action that needs a second request (a refused validation or a conflict,
then the state read) gives two samples, not one sample of two round trips.
The per-action time is kept too (``action_samples``), for comparison.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from decimal import Decimal


def seed_contended(*, db, commission, session, centre, school, pair: int, count: int) -> list[int]:
    """``count`` passages of the pair's commission with a complete agreed grid but no mark."""
    from datetime import UTC, date, datetime

    import sqlalchemy as sa

    from exam_app.dossiers.models import Decision, Dossier
    from exam_app.enrolment.models import Candidate, CandidateUnitForm
    from exam_app.juries import planning
    from exam_app.juries.models import AGREED, Grid, GridField

    candidates = [Candidate(session=session, number=f"C{pair:03d}{n:04d}", last_name="CONTENTION",
                            first_name=f"{pair}-{n}", birth_date=date(2005, 1, 1),
                            establishment=school, centre=centre,
                            unit_forms=[CandidateUnitForm(unit_code="E5", form="ponctuel")])
                  for n in range(count)]
    db.session.add_all(candidates)
    db.session.flush()
    db.session.add_all([Dossier(candidate_id=c.id, unit_code="E4", decision_reasons=[],
                                decision=Decision.COMPLIANT.value, decided_at=datetime.now(UTC))
                        for c in candidates])
    passages = planning.assign_candidates(commission=commission,
                                          numbers=[c.number for c in candidates],
                                          variant_code="ponctuel", actor=None)
    ids = [p.id for p in passages]
    grids = sa.select(Grid.id).where(Grid.passage_id.in_(ids), Grid.key == AGREED)
    db.session.execute(sa.update(GridField).where(GridField.grid_id.in_(grids),
                                                  GridField.name.like("c:%"))
                       .values(value="S").execution_options(synchronize_session=False))
    db.session.execute(sa.update(GridField).where(GridField.grid_id.in_(grids),
                                                  GridField.name == "appreciation")
                       .values(value="Banc d'essai").execution_options(synchronize_session=False))
    return ids


class Contended:
    """The jurors' shared view of the contended passages, and one juror's next request."""

    def __init__(self, clients, tokens, jurors) -> None:
        self.clients, self.tokens, self.jurors = clients, tokens, jurors
        self.position = [0] * len(clients)  # index in the juror's list of passages
        self.version = [0] * len(clients)  # the mark's version as the juror last saw it
        self.revision = [0] * len(clients)
        self.validated = [0] * len(clients)  # the revision the juror's own validation holds
        self.seen = [False] * len(clients)  # the state read since that validation
        self.acknowledged: dict[int, tuple[int, str]] = {}  # passage: (version, value)
        self.lock = threading.Lock()
        self.finals = 0  # final marks reached, counted by count_lost
        self.samples: list[float] = []  # ms per HTTP request (list.append is thread-safe)
        # (kind, ms) per HTTP request, the kind its path's last part and its status
        # ("valider 200", "champs 200", "etat 200"): where the contended time goes.
        self.kind_samples: list[tuple[str, float]] = []
        self.action_samples: list[float] = []  # ms per juror action (1 or 2 requests)

    def take_samples(self) -> tuple[list[float], list[float]]:
        """The samples since the last call (per request, per action), and forget them."""
        samples, actions = self.samples, self.action_samples
        self.samples, self.action_samples = [], []
        return samples, actions

    def _timed(self, index: int, method: str, path: str, body: bytes | None = None,
               headers: dict | None = None) -> tuple[int, bytes, dict]:
        started = time.perf_counter()
        status = "error"
        try:
            answer = self.clients[index].request(method, path, body, headers)
            status = answer[0]
            return answer
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            self.samples.append(elapsed)
            self.kind_samples.append((f"{path.rsplit('/', 1)[-1]} {status}", elapsed))

    def by_kind(self) -> dict:
        """Requests and median ms per kind of request, over the whole run."""
        kinds: dict[str, list[float]] = {}
        for kind, elapsed in self.kind_samples:
            kinds.setdefault(kind, []).append(elapsed)
        return {kind: {"requests": len(times), "median_ms": round(statistics.median(times), 2)}
                for kind, times in sorted(kinds.items())}

    def _post(self, index: int, path: str, body: dict) -> tuple[int, dict]:
        status, data, _ = self._timed(
            index, "POST", path, json.dumps(body).encode(),
            {"Content-Type": "application/json", "X-CSRFToken": self.tokens[index],
             "Accept": "application/json"})
        try:
            return status, json.loads(data or b"{}")
        except ValueError:
            return status, {"raw": data[:120].decode(errors="replace")}

    def _next_passage(self, index: int) -> None:
        self.position[index] += 1
        self.version[index] = self.revision[index] = self.validated[index] = 0
        self.seen[index] = False

    def request(self, index: int, n: int):
        """One juror action (see ``_action``), timed as a whole in ``action_samples``."""
        started = time.perf_counter()
        try:
            return self._action(index, n)
        finally:
            self.action_samples.append((time.perf_counter() - started) * 1000)

    def _action(self, index: int, n: int):
        """A save (n % 6 == 0) or a validation; True, or the error's description."""
        passages = self.jurors[index]["contended"]
        if self.position[index] >= len(passages):
            return "contended: out of passages (seed more)"
        passage = passages[self.position[index]]
        if n % 6 == 0 or not self.revision[index]:  # nothing seen to validate yet: save first
            return self._save(index, passage, n, str(10 + (n // 2 + index) % 6))
        if self.validated[index] == self.revision[index]:
            # Its validation holds: the screen's button is disabled; the page reads the
            # state (its push's poll), then the juror changes the mark.
            if not self.seen[index]:
                self.seen[index] = True
                return self._refresh(index, passage)
            return self._save(index, passage, n, str(10 + (n // 2 + index + 1) % 6))
        status, body = self._post(index, f"/jury/passages/{passage}/valider",
                                  {"revision": self.revision[index]})
        if status == 200:
            if body["passage"]["final"]:
                self._next_passage(index)
            else:
                self.validated[index], self.seen[index] = self.revision[index], False
            return True
        if status == 409 and "définitive" in body.get("message", ""):
            self._next_passage(index)
            return True
        if status == 409 and "a changé" in body.get("message", ""):
            return self._refresh(index, passage)
        return f"contended validate {status} {str(body)[:120]}"

    def _save(self, index: int, passage: int, n: int, value: str):
        status, body = self._post(index, f"/jury/passages/{passage}/grilles/commune/champs", {
            "ops": [{"op": str(uuid.uuid4()), "field": "mark", "value": value,
                     "base": self.version[index]}]})
        if status == 409 and "définitive" in body.get("message", ""):
            self._next_passage(index)
            return True
        if status != 200:
            return f"contended save {status} {str(body)[:120]}"
        [result] = body["results"]
        self.version[index] = result["version"]
        if result["status"] != "ok":
            return self._refresh(index, passage)
        self.revision[index] = body["revision"] or self.revision[index]
        with self.lock:
            if result["version"] > self.acknowledged.get(passage, (0, ""))[0]:
                self.acknowledged[passage] = (result["version"], result["value"])
        return True

    def _refresh(self, index: int, passage: int):
        """Read the passage's state (as the screen's poll does): its revision and mark version."""
        status, data, _ = self._timed(index, "GET", f"/jury/passages/{passage}/etat",
                                      headers={"Accept": "application/json"})
        if status != 200:
            return f"contended state {status}"
        state = json.loads(data)
        if state["passage"]["final"]:
            self._next_passage(index)
        else:
            self.revision[index] = state["passage"]["revision"]
            self.version[index] = state["grids"]["agreed"]["mark"]["version"]
        return True

    def count_lost(self, db) -> int:
        """Acknowledged writes missing, and final marks that do not match the grid and
        both validations (the invariant of issue 11)."""
        import sqlalchemy as sa

        from exam_app.juries.models import AGREED, Grid, GridField, Passage, Validation

        lost = 0
        self.finals = 0
        for passage_id in {p for juror in self.jurors for p in juror["contended"]}:
            passage = db.session.get(Passage, passage_id)
            value, version = db.session.execute(
                sa.select(GridField.value, GridField.version).join(Grid).where(
                    Grid.passage_id == passage_id, Grid.key == AGREED,
                    GridField.name == "mark")).one()
            acknowledged = self.acknowledged.get(passage_id)
            if acknowledged and acknowledged != (version, value):
                lost += 1
            if passage.finalized_at is not None:
                self.finals += 1
                rows = db.session.execute(sa.select(Validation.revision, Validation.mark).where(
                    Validation.passage_id == passage_id)).all()
                if (passage.final_mark != Decimal(value) or len(rows) != 2
                        or {tuple(r) for r in rows} != {(passage.agreed_revision,
                                                         passage.final_mark)}):
                    lost += 1
        return lost
