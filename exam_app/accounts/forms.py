from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    username = StringField(
        "Identifiant",
        validators=[DataRequired("Saisissez votre identifiant."),
                    Length(max=120, message="L'identifiant fait 120 caractères au plus.")],
        render_kw={"autocomplete": "username", "autofocus": True},
    )
    password = PasswordField(
        "Mot de passe",
        validators=[DataRequired("Saisissez votre mot de passe."),
                    Length(max=200, message="Le mot de passe fait 200 caractères au plus.")],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()


class LogoutForm(FlaskForm):
    pass
