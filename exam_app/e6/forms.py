from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange


class CsrfOnlyForm(FlaskForm):
    """A form that carries only the CSRF token (attendance, autosave pages)."""


class ConfirmForm(FlaskForm):
    confirm = BooleanField("Je confirme", validators=[DataRequired("Cochez la case pour confirmer.")])


class BaremeForm(FlaskForm):
    text = TextAreaField(
        "Questions du barème",
        validators=[DataRequired("Saisissez au moins une question."), Length(max=10000)],
        render_kw={"rows": 10, "spellcheck": "false"},
    )


class RoomForm(FlaskForm):
    name = StringField("Nom de la salle", validators=[DataRequired("Nommez la salle."), Length(max=80)])
    starts_at = DateTimeLocalField(
        "Début de l'épreuve (heure de la session)", format="%Y-%m-%dT%H:%M",
        validators=[InputRequired("Indiquez la date et l'heure de début (JJ/MM/AAAA HH:MM).")],
    )
    capacity = IntegerField(
        "Nombre de places",
        validators=[InputRequired("Indiquez le nombre de places."),
                    NumberRange(1, 1000, "Entre 1 et 1000 places.")],
    )


class CorrectorForm(FlaskForm):
    user_id = SelectField("Correcteur", coerce=int,
                          validators=[DataRequired("Choisissez un correcteur.")])
    establishment_id = SelectField(
        "Établissement où il enseigne", coerce=int,
        description="Il ne corrigera aucune copie de cet établissement.",
    )


class AdjustForm(FlaskForm):
    factor = StringField("Coefficient", default="1",
                         validators=[DataRequired("Indiquez un coefficient (1 = inchangé)."),
                                     Length(max=10)])
    offset = StringField("Points ajoutés (négatif pour retirer)", default="0",
                         validators=[DataRequired("Indiquez un décalage (0 = aucun)."), Length(max=10)])
    reason = TextAreaField("Motif (visible par le correcteur)",
                           validators=[DataRequired("Indiquez le motif."), Length(max=1000)],
                           render_kw={"rows": 2})


class ReasonForm(FlaskForm):
    reason = TextAreaField("Motif", validators=[DataRequired("Indiquez le motif."), Length(max=1000)],
                           render_kw={"rows": 2})
