"""Forms of the print packs."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, RadioField, SelectChoice, SelectMultipleField, widgets
from wtforms.validators import DataRequired, InputRequired

from exam_app.documents.packs import KINDS


class PackForm(FlaskForm):
    day = DateField("Jour des épreuves", validators=[InputRequired("Indiquez le jour.")])
    kinds = SelectMultipleField(
        "Documents", choices=[SelectChoice(k, label) for k, label in KINDS.items()], default=list(KINDS),
        widget=widgets.ListWidget(prefix_label=False), option_widget=widgets.CheckboxInput(),
        validators=[DataRequired("Choisissez au moins un type de document.")])
    fmt = RadioField("Format", choices=[SelectChoice("pdf", "Un seul PDF à imprimer"),
                                        SelectChoice("zip", "Un ZIP d'un PDF par document")], default="pdf",
                     validators=[InputRequired("Choisissez le format.")])


class RegenerateForm(FlaskForm):
    pass
