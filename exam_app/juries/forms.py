"""Forms of the jury day: planning (gestionnaire), attendance and reopening."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    IntegerField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, NumberRange, Optional


class AssignForm(FlaskForm):
    numbers = TextAreaField(
        "Numéros des candidats",
        validators=[DataRequired("Indiquez au moins un numéro de candidat."),
                    Length(max=20000, message="Liste trop longue.")],
        description="Un numéro par ligne (ou séparés par des virgules), dans l'ordre de passage.",
    )
    # Choices are rendered by the template from the unit definition; the service checks them.
    variant = StringField("Situation d'épreuve", validators=[DataRequired("Choisissez la situation.")])


class ScheduleForm(FlaskForm):
    day = DateField("Jour de passage", validators=[InputRequired("Indiquez le jour.")])
    day_start = TimeField("Début de la journée", validators=[InputRequired("Indiquez l'heure.")])
    break_minutes = IntegerField(
        "Pause entre deux candidats (min)",
        validators=[InputRequired("Indiquez la pause."),
                    NumberRange(0, 120, "Entre 0 et 120 minutes.")])
    lunch_start = TimeField("Début du déjeuner", validators=[InputRequired("Indiquez l'heure.")])
    lunch_minutes = IntegerField(
        "Durée du déjeuner (min)",
        validators=[InputRequired("Indiquez la durée."), NumberRange(0, 180, "Entre 0 et 180 minutes.")])
    workstations = IntegerField(
        "Postes de préparation (E5)",
        validators=[InputRequired("Indiquez le nombre de postes."),
                    NumberRange(1, 50, "Entre 1 et 50 postes.")])
    room = StringField("Salle", validators=[Optional(), Length(max=60)])


class MoveForm(FlaskForm):
    scheduled_at = DateTimeLocalField(
        "Nouvel horaire", format="%Y-%m-%dT%H:%M",
        validators=[InputRequired("Indiquez la date et l'heure (heure de la session).")])


class SwapForm(FlaskForm):
    other = IntegerField("Échanger avec", validators=[InputRequired("Choisissez un passage.")])


class AttendanceForm(FlaskForm):
    attendance = StringField("Présence", validators=[
        InputRequired("Choisissez présent ou absent."),
        AnyOf(["present", "absent"], message="Choisissez présent ou absent.")])
    confirm = BooleanField("Je confirme l'absence du candidat (ABS)")


class ReopenForm(FlaskForm):
    reason = TextAreaField(
        "Motif de la réouverture",
        validators=[DataRequired("Indiquez le motif."),
                    Length(min=5, max=1000, message="Entre 5 et 1000 caractères.")])
    confirm = BooleanField("Je confirme : la note redevient provisoire et le bordereau imprimé "
                           "n'est plus valable.",
                           validators=[DataRequired("Cochez la confirmation.")])


class StartExceptionForm(FlaskForm):
    reason = TextAreaField(
        "Motif de la dérogation",
        validators=[DataRequired("Indiquez le motif de la dérogation."),
                    Length(min=5, max=1000, message="Entre 5 et 1000 caractères.")])
