from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget


class FileUploadForm(FlaskForm):
    """The fallback without JavaScript: one file per submission, multipart."""

    piece = SelectField("Pièce", choices=[], validators=[InputRequired("Choisissez la pièce.")])
    replaces = HiddenField()
    file = FileField("Fichier PDF", validators=[FileRequired("Choisissez un fichier PDF.")],
                     render_kw={"accept": "application/pdf,.pdf"})


class ConfirmForm(FlaskForm):
    """A CSRF-protected confirmation (remove a file, a period)."""


class InternshipForm(FlaskForm):
    organisation = StringField("Organisation d'accueil", validators=[
        DataRequired("Indiquez l'organisation d'accueil."), Length(max=200)])
    start_date = DateField("Du", validators=[InputRequired("Indiquez la date de début.")])
    end_date = DateField("Au", validators=[InputRequired("Indiquez la date de fin.")])


class DeadlineForm(FlaskForm):
    unit = HiddenField(validators=[InputRequired()])
    deadline = DateTimeLocalField("Date limite de dépôt (heure de la session)", format="%Y-%m-%dT%H:%M",
                                  validators=[InputRequired("Indiquez une date et une heure.")])


class ExtensionForm(FlaskForm):
    until = DateTimeLocalField("Nouvelle date limite (heure de la session)", format="%Y-%m-%dT%H:%M",
                               validators=[Optional()])
    reason = TextAreaField("Motif de la dérogation", validators=[
        DataRequired("Indiquez le motif de la dérogation."), Length(max=2000)])


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class DecisionForm(FlaskForm):
    decision = RadioField("Décision", choices=[SelectChoice("compliant", "Conforme"),
                                               SelectChoice("non_compliant", "Non conforme")],
                          validators=[InputRequired("Choisissez conforme ou non conforme.")])
    reasons = MultiCheckboxField("Motifs de non-conformité", choices=[], validate_choice=False)
    comment = TextAreaField("Commentaire", validators=[Length(max=2000)])
    missing_elements = TextAreaField(
        "Éléments manquants (un par ligne, dossier conforme : insuffisance sanctionnée dans "
        "l'évaluation, sans effet NV)", validators=[Length(max=4000)])
    revision_reason = TextAreaField("Motif de la révision (si une décision existe déjà)",
                                    validators=[Length(max=2000)])
    confirm_missing = BooleanField("Je confirme déclarer ce dossier conforme malgré les pièces "
                                   "manquantes")
    confirm_early = BooleanField("Je confirme décider avant la date limite de dépôt")


class FileRulesForm(FlaskForm):
    """The session's rules for deposited files; the active-content choices are read
    from ``policy-<kind>`` fields, one per kind (``pdfcheck.ACTIVE_KINDS``)."""

    max_pages = IntegerField("Nombre maximal de pages d'un fichier", validators=[
        InputRequired("Indiquez un nombre de pages."),
        NumberRange(1, 10_000, "Entre 1 et 10 000 pages.")])
