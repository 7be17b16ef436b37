"""The unit definitions, exactly as DOMAIN.md gives them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exam_app.units import (
    ExamUnit,
    Phase,
    Step,
    UnitForm,
    UnitKind,
    Variant,
    all_units,
    get_unit,
    register,
)


def _phases(variant):
    return [(p.code, p.max_minutes, p.jury_present, p.fixed) for p in variant.phases]


def _segments(variant):
    return [(s.code, s.max_minutes) for p in variant.phases for s in p.segments()]


def test_registry_holds_e4_e5_e6_in_order():
    assert [u.code for u in all_units()] == ["E4", "E5", "E6"]
    for unit in all_units():
        assert unit.coefficient == 4
        assert unit.max_mark == 20
        assert unit.default_mark_step == Decimal("0.5")


def test_e4_is_an_oral_ponctuel_of_25_then_30_minutes():
    e4 = get_unit("E4")
    assert (e4.bloc, e4.kind, e4.anonymous) == (1, UnitKind.ORAL, False)
    assert [v.code for v in e4.variants] == ["ponctuel"]
    variant = e4.variants[0]
    assert variant.form == UnitForm.PONCTUEL
    assert _phases(variant) == [("presentation", 25, True, False), ("entretien", 30, True, False)]
    assert variant.max_minutes == 55
    assert variant.jury_minutes == 55
    assert _segments(variant) == [("presentation", 25), ("entretien", 30)]


def test_e4_dossier_pieces_and_counts():
    e4 = get_unit("E4")
    assert [(p.code, p.min_count, p.max_count) for p in e4.pieces] == [
        ("sommaire", 1, 1),
        ("description_missions", 1, 1),
        ("non_plagiat", 1, 1),
        ("attestations_stage", 1, 10),
        ("fiches_mission", 4, 4),
    ]
    assert e4.piece("non_plagiat").needs_signature is True
    assert e4.piece("attestations_stage").needs_signature is True
    assert e4.piece("fiches_mission").needs_signature is False
    # The page cap per fiche is set by the session (national circular), not here.
    assert e4.piece("fiches_mission").max_pages is None
    assert {t for p in e4.pieces for t in p.accepted_types} == {"application/pdf"}
    assert e4.has_dossier is True


def test_e4_grid_has_the_six_criteria_of_the_referentiel_and_three_sources():
    grid = get_unit("E4").grid
    assert [s.code for s in grid.sections] == ["performance"]
    assert [(c.code, c.label) for c in grid.criteria()] == [
        ("comportementales", "Compétences comportementales"),
        ("operationnels", "Performance en termes opérationnels"),
        ("information", "Gestion de l'information"),
        ("communication", "Communication adaptée à la situation"),
        ("outils_pertinence", "Pertinence des outils de gestion de projet présentés"),
        ("outils_maitrise", "Maîtrise des outils de gestion utilisés dans le projet"),
    ]
    # Sources of evidence: guidance, not scored rows.
    assert grid.evidence == (
        "Compétences mobilisées lors des missions ou lors de la présentation",
        "Compétences numériques mobilisées",
        "Pertinence des travaux ou missions présentés au regard des compétences attendues "
        "en termes de posture, autonomie et polyvalence",
    )
    assert [level.code for level in grid.levels] == ["TI", "I", "S", "TS"]
    assert grid.level_codes() == ("TI", "I", "S", "TS", "NE")


def test_e5_ponctuel_is_45_fixed_without_jury_then_10_20_then_5_10():
    e5 = get_unit("E5")
    assert (e5.bloc, e5.kind) == (2, UnitKind.ORAL)
    variant = e5.variant("ponctuel")
    assert variant.form == UnitForm.PONCTUEL
    assert _phases(variant) == [
        ("preparation", 45, False, True),
        ("simulation", 30, True, False),
        ("veille", 15, True, False),
    ]
    assert [[(s.code, s.max_minutes) for s in p.steps] for p in variant.phases] == [
        [],
        [("resultat", 10), ("entretien", 20)],
        [("presentation_veille", 5), ("entretien_veille", 10)],
    ]
    assert variant.max_minutes == 90
    assert variant.jury_minutes == 45
    assert _segments(variant) == [
        ("preparation", 45), ("resultat", 10), ("entretien", 20),
        ("presentation_veille", 5), ("entretien_veille", 10),
    ]


def test_e5_ccf_situation_a_is_5_then_10_minutes():
    variant = get_unit("E5").variant("ccf_a")
    assert variant.form == UnitForm.CCF
    assert _phases(variant) == [("veille", 15, True, False)]
    assert _segments(variant) == [("presentation_veille", 5), ("entretien_veille", 10)]
    assert variant.grid_sections == ("veille",)


def test_e5_ccf_situation_b_is_45_then_10_then_20_minutes():
    variant = get_unit("E5").variant("ccf_b")
    assert variant.form == UnitForm.CCF
    assert _phases(variant) == [("preparation", 45, False, True), ("simulation", 30, True, False)]
    assert _segments(variant) == [("preparation", 45), ("resultat", 10), ("entretien", 20)]
    assert variant.max_minutes == 75
    assert variant.grid_sections == ("simulation", "entretien")


def test_e5_variants_by_form():
    e5 = get_unit("E5")
    assert [v.code for v in e5.variants_for(UnitForm.PONCTUEL)] == ["ponctuel"]
    assert [v.code for v in e5.variants_for("ccf")] == ["ccf_a", "ccf_b"]


def test_e5_dossier_pieces_and_counts():
    e5 = get_unit("E5")
    assert [(p.code, p.min_count, p.max_count) for p in e5.pieces] == [
        ("fiches_projet", 2, 2),
        ("compte_rendu_veille", 1, 1),
        ("non_plagiat", 1, 1),
    ]
    assert e5.piece("non_plagiat").needs_signature is True


def test_e5_grid_sections_and_criteria_counts():
    grid = get_unit("E5").grid
    assert [(s.code, len(s.criteria)) for s in grid.sections] == [
        ("simulation", 7), ("entretien", 4), ("veille", 5),
    ]
    assert len(grid.criteria()) == 16
    codes = [c.code for c in grid.criteria()]
    assert len(codes) == len(set(codes))


def test_e6_is_a_written_anonymous_exam_of_240_minutes_without_dossier():
    e6 = get_unit("E6")
    assert (e6.bloc, e6.kind, e6.anonymous) == (3, UnitKind.WRITTEN, True)
    assert [v.code for v in e6.variants] == ["ecrit"]
    assert _phases(e6.variants[0]) == [("redaction", 240, True, True)]
    assert e6.pieces == ()
    assert e6.has_dossier is False
    assert e6.grid is None


def test_unknown_unit_variant_and_piece_raise_key_errors():
    with pytest.raises(KeyError, match="unknown exam unit 'E9'"):
        get_unit("E9")
    with pytest.raises(KeyError, match="E4 has no variant 'ccf_a'"):
        get_unit("E4").variant("ccf_a")
    with pytest.raises(KeyError, match="E5 has no piece 'sommaire'"):
        get_unit("E5").piece("sommaire")


def test_registering_another_unit_under_a_taken_code_is_refused():
    clone = ExamUnit(code="E4", title="Autre", bloc=1, kind=UnitKind.ORAL, coefficient=4,
                     variants=())
    with pytest.raises(ValueError, match="unit E4 registered twice"):
        register(clone)
    assert get_unit("E4").title == "Optimisation des processus administratifs"
    assert register(get_unit("E4")) is get_unit("E4")  # re-registering the same object is fine


def test_phase_steps_must_add_up_to_the_phase_length():
    with pytest.raises(ValueError, match="phase x: steps do not add up to 30 min"):
        Phase("x", "X", 30, steps=(Step("a", "A", 10), Step("b", "B", 10)))


def test_variant_without_steps_counts_the_phase_as_one_segment():
    variant = Variant("v", "V", UnitForm.PONCTUEL, phases=(Phase("p", "P", 12, jury_present=False),))
    assert [(s.code, s.label, s.max_minutes) for s in variant.phases[0].segments()] == [("p", "P", 12)]
    assert (variant.max_minutes, variant.jury_minutes) == (12, 0)


def test_units_say_which_forms_they_have_and_what_templates_ask():
    e4, e5, e6 = (get_unit(code) for code in ("E4", "E5", "E6"))
    assert (e4.forms, e5.forms, e6.forms) == (
        (UnitForm.PONCTUEL,), (UnitForm.PONCTUEL, UnitForm.CCF), (UnitForm.PONCTUEL,))
    assert [u.has_several_forms for u in (e4, e5, e6)] == [False, True, False]
    assert (e4.solo_phase, e5.solo_phase.code, e5.solo_phase.max_minutes, e6.solo_phase) == (
        None, "preparation", 45, None)
    assert [u.duration_setting for u in (e4, e5, e6)] == [None, None, "e6_duration_minutes"]
    assert (UnitForm.CCF.label, UnitForm.PONCTUEL.label) == ("CCF", "Ponctuel")


def test_templates_ask_the_definition_not_a_unit_code():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "templates"
    offenders = [
        f"{path.relative_to(root)}:{n}"
        for path in sorted(root.rglob("*.html"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        for code in ("E4", "E5", "E6")
        if f"'{code}'" in line or f'"{code}"' in line
    ]
    assert offenders == []
