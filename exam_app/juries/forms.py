"""Forms of the jury day: planning (gestionnaire), attendance and reopening."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import HiddenInput


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


# ---- Forming commissions (issue 13, item 5) -------------------------------------------


def _id_or_zero(value) -> int:
    """A select's value: its id, or 0 for « choose »."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class DaysField(StringField):
    """Days as « JJ/MM/AAAA » (or AAAA-MM-JJ), separated by commas, spaces or lines."""

    def _value(self) -> str:
        if isinstance(self.data, list):
            return ", ".join(f"{d:%d/%m/%Y}" for d in self.data)
        return self.raw_data[0] if self.raw_data else ""

    def process_formdata(self, valuelist) -> None:
        from datetime import date, datetime

        self.data = []
        text = valuelist[0] if valuelist else ""
        for part in text.replace(";", ",").replace("\n", ",").split(","):
            part = part.strip()
            if not part:
                continue
            for pattern in ("%d/%m/%Y", "%Y-%m-%d"):
                try:
                    self.data.append(datetime.strptime(part, pattern).date())
                    break
                except ValueError:
                    continue
            else:
                self.data = None
                raise ValueError(f"« {part} » n'est pas une date (JJ/MM/AAAA).")
        if self.data:
            self.data = sorted(set(self.data), key=date.toordinal)


class CommissionForm(FlaskForm):
    # The id lists are not checked against their choices here: the service refuses an
    # unknown person or place, or one without the right profile, in French on the field.
    code = StringField("Code de la commission",
                       validators=[DataRequired("Indiquez le code de la commission."),
                                   Length(max=30, message="30 caractères au plus.")])
    unit_code = SelectField("Épreuve", choices=[])
    form = SelectField("Forme", choices=[SelectChoice("ponctuel", "Ponctuelle"),
                                         SelectChoice("ccf", "CCF")])
    centre_id = SelectField("Centre d'examen (forme ponctuelle)", coerce=_id_or_zero,
                            choices=[], validate_choice=False)
    establishment_id = SelectField("Établissement (CCF)", coerce=_id_or_zero, choices=[],
                                   validate_choice=False)
    days = DaysField("Jours de passage")
    teacher_id = SelectField("Enseignant", coerce=_id_or_zero, choices=[],
                             validate_choice=False)
    professional_id = SelectField("Professionnel", coerce=_id_or_zero, choices=[], validate_choice=False)
    replacement_reason = StringField(
        "Motif du remplacement du professionnel par un enseignant",
        validators=[Length(max=300, message="300 caractères au plus.")])
    version = IntegerField(widget=HiddenInput(), validators=[Optional()])
    confirm_removal = BooleanField("Je confirme le retrait du juré de cette commission")


class AvailabilityForm(FlaskForm):
    user_id = SelectField("Juré", coerce=_id_or_zero, choices=[], validate_choice=False)
    days = DaysField("Jours")
    available = SelectField("Disponibilité", choices=[SelectChoice("0", "Indisponible"),
                                                      SelectChoice("1", "Disponible")])
    note = StringField("Motif ou précision",
                       validators=[Length(max=200, message="200 caractères au plus.")])


class PlanRunForm(FlaskForm):
    time_limit = IntegerField(
        "Temps de calcul maximal (secondes)",
        validators=[InputRequired("Indiquez le temps de calcul."),
                    NumberRange(5, 600, "Entre 5 et 600 secondes.")], default=30)


class ApplyPlanForm(FlaskForm):
    pass


class RepairForm(FlaskForm):
    """Signaler une absence: a juror (or a whole commission) missing on a day."""

    user_id = SelectField("Juré absent", coerce=_id_or_zero, choices=[], validate_choice=False)
    commission_id = SelectField("Ou commission entière absente", coerce=_id_or_zero, choices=[],
                                validate_choice=False)
    day = DateField("Jour de l'absence", validators=[InputRequired("Indiquez le jour.")])
    replacement_id = SelectField("Juré remplaçant (facultatif)", coerce=_id_or_zero, choices=[],
                                 validate_choice=False)
    time_limit = IntegerField(
        "Temps de calcul maximal de la réparation (secondes)",
        validators=[InputRequired("Indiquez le temps de calcul."),
                    NumberRange(2, 60, "Entre 2 et 60 secondes.")], default=10)


class PublishForm(FlaskForm):
    pass


class PlaceForm(FlaskForm):
    """Placing a candidate found by name on the planning board (one form per result: the
    template renders its fields with their own ids)."""

    candidate_id = IntegerField(widget=HiddenInput(), validators=[InputRequired()])
    unit_code = StringField(widget=HiddenInput(), validators=[DataRequired(), Length(max=10)])
    variant_code = StringField(widget=HiddenInput(), validators=[DataRequired(), Length(max=20)])
    day = DateField(widget=HiddenInput(), validators=[InputRequired("Jour invalide.")])
    commission_id = IntegerField("Commission", validators=[
        InputRequired("Choisissez la commission.")])
    start = TimeField("Début devant la commission", validators=[
        InputRequired("Indiquez l'heure (HH:MM).")])


def set_juror_choices(form, teachers, professionals, *, replacing: str) -> None:
    """A commission form's two juror lists: the teachers; the professionals, then the
    teachers who may replace one (under ``replacing``, a reason being required)."""

    def label(user) -> str:
        return f"{user.last_name} {user.first_name} ({user.email or user.username})"

    form.teacher_id.choices = [SelectChoice(0, "— choisir —")] + [
        SelectChoice(u.id, label(u)) for u in teachers]
    form.professional_id.choices = (
        [SelectChoice(0, "— choisir —")]
        + [SelectChoice(u.id, label(u), optgroup="Professionnels") for u in professionals]
        + [SelectChoice(u.id, label(u), optgroup=replacing) for u in teachers])
