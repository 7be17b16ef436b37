"""Forms of the délibération pages (jury and gestionnaire)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget


class ChangeResultForm(FlaskForm):
    result = StringField("Nouveau résultat", validators=[InputRequired("Saisissez le résultat.")],
                         render_kw={"maxlength": 6, "autocomplete": "off", "inputmode": "decimal"})
    reason = TextAreaField("Motif (visible sur le dossier du candidat)",
                           validators=[InputRequired("Indiquez le motif."), Length(max=2000)],
                           render_kw={"rows": 2})
    version = HiddenField()
    confirm = BooleanField("Je confirme la modification de ce résultat",
                           validators=[DataRequired("Cochez la case pour confirmer.")])


class ConfirmForm(FlaskForm):
    confirm = BooleanField("Je confirme", validators=[DataRequired("Cochez la case pour confirmer.")])


class ReasonForm(FlaskForm):
    reason = TextAreaField("Motif", validators=[InputRequired("Indiquez le motif."),
                                                Length(max=1000)], render_kw={"rows": 2})
    confirm = BooleanField("Je confirme la réouverture : les résultats redeviennent modifiables",
                           validators=[DataRequired("Cochez la case pour confirmer.")])


class JuryForm(FlaskForm):
    president = SelectField("Président du jury", coerce=int,
                            validators=[InputRequired("Désignez le président.")])
    members = SelectMultipleField("Membres du jury", coerce=int, widget=ListWidget(prefix_label=False),
                                  option_widget=CheckboxInput())


class OtherUnitForm(FlaskForm):
    code = StringField("Code de l'épreuve", validators=[InputRequired("Indiquez le code.")],
                       render_kw={"maxlength": 10, "autocomplete": "off"})
    label = StringField("Intitulé", validators=[InputRequired("Indiquez l'intitulé.")],
                        render_kw={"maxlength": 200})
    coefficient = StringField("Coefficient", validators=[InputRequired("Indiquez le coefficient.")],
                              render_kw={"maxlength": 5, "inputmode": "decimal"})


class MarksImportForm(FlaskForm):
    file = FileField("Fichier CSV", validators=[FileRequired("Choisissez un fichier CSV à importer.")],
                     render_kw={"accept": ".csv,text/csv"})
