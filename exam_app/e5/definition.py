"""E5 — Gestion de projet (bloc 2): oral and practical, ponctuel (1h30) or CCF (A + B)."""

from exam_app.units import (
    Criterion,
    ExamUnit,
    Grid,
    GridSection,
    Phase,
    Piece,
    Record,
    Step,
    UnitForm,
    UnitKind,
    Variant,
    register,
)

PREPARATION = Phase(
    "preparation",
    "Préparation sur poste informatique (nouvelle demande)",
    45,
    jury_present=False,
    fixed=True,
)
SIMULATION = Phase(
    "simulation",
    "Simulation et entretien",
    30,
    steps=(
        Step("resultat", "Résultat de la nouvelle demande", 10),
        Step("entretien", "Entretien", 20),
    ),
)
VEILLE = Phase(
    "veille",
    "Présentation de la veille informationnelle",
    15,
    steps=(
        Step("presentation_veille", "Présentation des travaux de veille", 5),
        Step("entretien_veille", "Entretien", 10),
    ),
)

E5 = register(
    ExamUnit(
        code="E5",
        title="Gestion de projet",
        bloc=2,
        kind=UnitKind.ORAL,
        coefficient=4,
        variants=(
            Variant(
                code="ponctuel",
                label="Forme ponctuelle",
                form=UnitForm.PONCTUEL,
                phases=(PREPARATION, SIMULATION, VEILLE),
            ),
            Variant(
                code="ccf_a",
                label="CCF — situation A (veille informationnelle)",
                form=UnitForm.CCF,
                phases=(VEILLE,),
                grid_sections=("veille",),
            ),
            Variant(
                code="ccf_b",
                label="CCF — situation B (préparation, simulation et entretien)",
                form=UnitForm.CCF,
                phases=(PREPARATION, SIMULATION),
                grid_sections=("simulation", "entretien"),
            ),
        ),
        pieces=(
            Piece("fiches_projet", "Fiches descriptives de projet", min_count=2, max_count=2),
            Piece(
                "compte_rendu_veille",
                "Compte rendu de veille informationnelle (pour un des projets)",
            ),
            Piece("non_plagiat", "Attestation de non-plagiat", needs_signature=True),
        ),
        conformity_items=(
            "Les projets répondent à la définition du projet du référentiel (processus unique, "
            "activités coordonnées avec dates de début et de fin, objectif sous contraintes "
            "de délais, de coûts et de ressources)",
        ),
        grid=Grid(
            sections=(
                GridSection(
                    "simulation",
                    "Simulation",
                    (
                        Criterion("contexte", "Précision de l'analyse du contexte de la simulation"),
                        Criterion(
                            "objectifs",
                            "Repérage des objectifs à atteindre, des contraintes, des ressources",
                        ),
                        Criterion("choix", "Justification du ou des choix de solution(s)"),
                        Criterion("tic", "Mise en œuvre des outils liés aux TIC"),
                        Criterion("communication", "Gestion de la communication"),
                        Criterion("outils_pertinence", "Pertinence des outils de gestion de projet"),
                        Criterion("outils_maitrise", "Maîtrise des outils de gestion du projet"),
                    ),
                ),
                GridSection(
                    "entretien",
                    "Entretien",
                    (
                        Criterion(
                            "dialogue",
                            "Participation à un dialogue : écoute, compréhension, pertinence",
                        ),
                        Criterion("demarche", "Justification de la démarche"),
                        Criterion("outils", "Justification des outils mobilisés"),
                        Criterion("bilan", "Pertinence du bilan et des mesures correctives"),
                    ),
                ),
                GridSection(
                    "veille",
                    "Compte rendu de la veille informationnelle",
                    (
                        Criterion("sujet", "Pertinence du sujet de veille"),
                        Criterion("demarche_veille", "Justification de la démarche"),
                        Criterion("outils_veille", "Justification des outils utilisés"),
                        Criterion("resultat_veille", "Justification du résultat de la veille"),
                        Criterion("maitrise_veille", "Maîtrise des outils de veille"),
                    ),
                ),
            ),
            # The fiche records the nouvelle demande given and the project it bears on.
            records=(
                Record("projet", "Projet sur lequel porte la nouvelle demande", "simulation"),
                Record("nouvelle_demande", "Nouvelle demande remise au candidat", "simulation"),
            ),
        ),
    )
)
