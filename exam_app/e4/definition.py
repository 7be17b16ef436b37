"""E4 — Optimisation des processus administratifs (bloc 1): oral, ponctuel, 55 min."""

from exam_app.units import (
    Criterion,
    ExamUnit,
    Grid,
    GridSection,
    Phase,
    Piece,
    UnitForm,
    UnitKind,
    Variant,
    register,
)

E4 = register(
    ExamUnit(
        code="E4",
        title="Optimisation des processus administratifs",
        bloc=1,
        kind=UnitKind.ORAL,
        coefficient=4,
        variants=(
            Variant(
                code="ponctuel",
                label="Forme ponctuelle",
                form=UnitForm.PONCTUEL,
                phases=(
                    Phase(
                        "presentation",
                        "Présentation du parcours de professionnalisation et des missions",
                        25,
                    ),
                    Phase("entretien", "Entretien avec la commission", 30),
                ),
            ),
        ),
        pieces=(
            Piece("sommaire", "Sommaire"),
            Piece("description_missions", "Description des missions menées"),
            Piece("non_plagiat", "Attestation de non-plagiat", needs_signature=True),
            Piece(
                "attestations_stage",
                "Attestations de stage ou certificats de travail",
                min_count=1,
                max_count=10,
                needs_signature=True,
            ),
            Piece(
                "fiches_mission",
                "Fiches descriptives de mission",
                min_count=4,
                max_count=4,
                max_pages_setting="e4_fiche_max_pages",
            ),
        ),
        conformity_items=(
            "Les quatre missions correspondent chacune à une activité du bloc 1",
        ),
        grid=Grid(
            sections=(
                GridSection(
                    "performance",
                    "Capacité à répondre aux critères de performance",
                    (
                        Criterion("comportementales", "Compétences comportementales"),
                        Criterion("operationnels", "Performance en termes opérationnels"),
                        Criterion("information", "Gestion de l'information"),
                        Criterion("communication", "Communication adaptée à la situation"),
                        Criterion(
                            "outils_pertinence",
                            "Pertinence des outils de gestion de projet présentés",
                        ),
                        Criterion(
                            "outils_maitrise",
                            "Maîtrise des outils de gestion utilisés dans le projet",
                        ),
                    ),
                ),
            ),
            # Not criteria: what each criterion above is judged from (référentiel,
            # "Critères d'évaluation" of E4), shown as guidance, never scored.
            evidence=(
                "Compétences mobilisées lors des missions ou lors de la présentation",
                "Compétences numériques mobilisées",
                "Pertinence des travaux ou missions présentés au regard des compétences attendues "
                "en termes de posture, autonomie et polyvalence",
            ),
        ),
    )
)
