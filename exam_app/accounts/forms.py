from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


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


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(
        "Mot de passe actuel",
        validators=[DataRequired("Saisissez votre mot de passe actuel."),
                    Length(max=200, message="Le mot de passe fait 200 caractères au plus.")],
        render_kw={"autocomplete": "current-password", "autofocus": True},
    )
    new_password = PasswordField(
        "Nouveau mot de passe",
        validators=[DataRequired("Saisissez le nouveau mot de passe.")],
        description="12 caractères au moins ; ni votre identifiant ni votre nom ; pas un mot "
                    "de passe courant. Une phrase de plusieurs mots convient bien.",
        render_kw={"autocomplete": "new-password", "minlength": 12, "maxlength": 200},
    )
    confirm = PasswordField(
        "Nouveau mot de passe (confirmation)",
        validators=[DataRequired("Saisissez à nouveau le nouveau mot de passe."),
                    EqualTo("new_password", "Les deux saisies du nouveau mot de passe diffèrent.")],
        render_kw={"autocomplete": "new-password"},
    )


class ChoosePasswordForm(FlaskForm):
    """The password chosen through an activation or reset link."""

    password = PasswordField(
        "Mot de passe",
        validators=[DataRequired("Choisissez votre mot de passe.")],
        description="12 caractères au moins ; ni votre identifiant ni votre nom ; pas un mot "
                    "de passe courant. Une phrase de plusieurs mots convient bien.",
        render_kw={"autocomplete": "new-password", "minlength": 12, "maxlength": 200,
                   "autofocus": True},
    )
    confirm = PasswordField(
        "Mot de passe (confirmation)",
        validators=[DataRequired("Saisissez à nouveau le mot de passe."),
                    EqualTo("password", "Les deux saisies du mot de passe diffèrent.")],
        render_kw={"autocomplete": "new-password"},
    )


class ForgotPasswordForm(FlaskForm):
    email = StringField(
        "Adresse électronique",
        validators=[DataRequired("Saisissez l'adresse électronique de votre compte."),
                    Length(max=254, message="L'adresse fait 254 caractères au plus.")],
        render_kw={"autocomplete": "email", "autofocus": True, "type": "email"},
    )
