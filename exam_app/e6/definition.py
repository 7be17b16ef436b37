"""E6 — Collaboration à la gestion des ressources humaines (bloc 3): written, 4 h.

The duration is the default of a session setting (``ExamSession.e6_duration_minutes``);
the barème is defined per session by the gestionnaire.
"""

from exam_app.units import ExamUnit, Phase, UnitForm, UnitKind, Variant, register

E6 = register(
    ExamUnit(
        code="E6",
        title="Collaboration à la gestion des ressources humaines",
        bloc=3,
        kind=UnitKind.WRITTEN,
        coefficient=4,
        variants=(
            Variant(
                code="ecrit",
                label="Épreuve écrite ponctuelle",
                form=UnitForm.PONCTUEL,
                phases=(Phase("redaction", "Épreuve écrite (étude de cas)", 240, fixed=True),),
            ),
        ),
        anonymous=True,
        duration_setting="e6_duration_minutes",
    )
)
