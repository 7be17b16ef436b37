"""The coordinator's forms (CCF commissions, situations, transmission) and the
gestionnaire's reopening."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length

from exam_app.juries.forms import DaysField, _id_or_zero


class _French:
    """A date or time field whose unreadable value is refused in French."""

    message = ""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as error:
            raise ValueError(self.message) from error


class FrenchDateField(_French, DateField):
    message = "Date illisible : écrivez-la JJ/MM/AAAA."


class FrenchTimeField(_French, TimeField):
    message = "Heure illisible : écrivez-la HH:MM."


class CcfCommissionForm(FlaskForm):
    # Ids are not checked against the choices here: the services refuse, in French on the
    # field, a teacher of another establishment or a person without the seat's profile.
    code = StringField("Code de la commission",
                       validators=[DataRequired("Indiquez le code de la commission."),
                                   Length(max=30, message="30 caractères au plus.")])
    days = DaysField("Jours des situations")
    teacher_id = SelectField("Enseignant de l'établissement", coerce=_id_or_zero, choices=[],
                             validate_choice=False)
    professional_id = SelectField("Professionnel", coerce=_id_or_zero, choices=[],
                                  validate_choice=False)
    replacement_reason = StringField(
        "Motif du remplacement du professionnel par un enseignant",
        validators=[Length(max=300, message="300 caractères au plus.")])


class PlanSituationForm(FlaskForm):
    variant_code = SelectField("Situation", choices=[SelectChoice("ccf_a", "Situation A"),
                                                     SelectChoice("ccf_b", "Situation B")],
                               validate_choice=False)
    commission_id = SelectField("Commission", coerce=_id_or_zero, choices=[],
                                validate_choice=False)
    day = FrenchDateField("Date", validators=[InputRequired("Indiquez la date (JJ/MM/AAAA).")],
                    format=["%Y-%m-%d", "%d/%m/%Y"])
    start = FrenchTimeField("Heure", validators=[InputRequired("Indiquez l'heure (HH:MM).")])


class TransmitForm(FlaskForm):
    confirm = BooleanField("Je confirme : les notes transmises sont verrouillées ; seule la "
                           "division des examens peut les rouvrir.",
                           validators=[DataRequired("Cochez la confirmation.")])


class ReopenTransmissionForm(FlaskForm):
    reason = TextAreaField(
        "Motif de la réouverture",
        validators=[DataRequired("Indiquez le motif."),
                    Length(min=5, max=1000, message="Entre 5 et 1000 caractères.")])
    confirm = BooleanField("Je confirme : les notes de CCF de l'établissement redeviennent "
                           "modifiables et devront être transmises de nouveau.",
                           validators=[DataRequired("Cochez la confirmation.")])
