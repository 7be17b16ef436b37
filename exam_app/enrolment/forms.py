"""Forms of the académie's pages: candidate import, session set-up, reference data."""

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
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Optional

from exam_app.enrolment.models import (
    CANDIDATE_STATUS_LABELS,
    ESTABLISHMENT_KIND_LABELS,
    REGISTRATION_KIND_LABELS,
)
from exam_app.enrolment.sessions import CCF_RULES


class CandidateImportForm(FlaskForm):
    file = FileField(
        "Fichier CSV des candidats",
        validators=[FileRequired("Choisissez un fichier CSV à importer.")],
        render_kw={"accept": ".csv,text/csv"},
    )


# The services check every value (one set of French messages for the pages, the CLI and
# the loader); these forms only carry them.
ZONES = ("Europe/Paris", "America/Guadeloupe", "America/Martinique", "America/Cayenne",
         "Indian/Reunion", "Indian/Mayotte", "Pacific/Noumea", "Pacific/Tahiti",
         "America/Miquelon", "Pacific/Wallis")


class SessionForm(FlaskForm):
    code = StringField("Code de la session", validators=[InputRequired("Indiquez un code.")],
                       render_kw={"autocomplete": "off", "maxlength": 40})
    name = StringField("Libellé", validators=[InputRequired("Indiquez un libellé.")],
                       render_kw={"maxlength": 200})
    academie = StringField("Académie", validators=[InputRequired("Indiquez l'académie.")],
                           render_kw={"maxlength": 120})
    year = IntegerField("Année de la session",
                        validators=[InputRequired("Indiquez l'année (ex. 2027).")])
    timezone = SelectField("Fuseau horaire", choices=[SelectChoice(z, z) for z in ZONES],
                           default="Europe/Paris")


class RulesForm(FlaskForm):
    section = HiddenField(default="regles")
    mark_step = SelectField("Pas de notation", choices=[SelectChoice("0.25", "0,25 point"),
                                                        SelectChoice("0.5", "0,5 point"),
                                                        SelectChoice("1", "1 point")])
    internship_min_days = IntegerField("Durée minimale de stage (jours)",
                                       validators=[InputRequired("Indiquez une durée.")])
    e4_fiche_max_pages = IntegerField("Pages max. par fiche descriptive E4",
                                      validators=[Optional()])
    e6_duration_minutes = IntegerField("Durée de l'E6 (minutes)",
                                       validators=[InputRequired("Indiquez une durée.")])
    nv_excludes_interview = RadioField(
        "Candidat dont le dossier est non valide (NV)",
        choices=[SelectChoice("1", "n'est pas interrogé (NV sur la fiche)"),
                 SelectChoice("0", "est interrogé, la note n'est pas attribuée")], default="1")
    ccf_combination = RadioField("Situations de CCF (E5) : résultat de l'épreuve",
                                 choices=[SelectChoice(k, v) for k, v in CCF_RULES.items()],
                                 default="global")
    reason = TextAreaField("Motif du changement", validators=[Optional()],
                           render_kw={"rows": 2, "maxlength": 500})


class IdentityForm(FlaskForm):
    section = HiddenField(default="identite")
    name = SessionForm.name
    academie = SessionForm.academie
    year = SessionForm.year
    timezone = SessionForm.timezone


class UnitDatesForm(FlaskForm):
    """One unit's dates; one form per unit on the page, told apart by their prefix."""

    deposit_opens_at = DateTimeLocalField("Ouverture des dépôts", format="%Y-%m-%dT%H:%M",
                                          validators=[Optional()])
    deposit_deadline_at = DateTimeLocalField("Date limite de dépôt", format="%Y-%m-%dT%H:%M",
                                             validators=[Optional()])
    orals_start_on = DateField("Premier jour des oraux", validators=[Optional()])
    orals_end_on = DateField("Dernier jour des oraux", validators=[Optional()])
    written_at = DateTimeLocalField("Début de l'épreuve écrite", format="%Y-%m-%dT%H:%M",
                                    validators=[Optional()])


class ReleveForm(FlaskForm):
    """When the relevés de notes appear in the candidates' spaces (empty: not published)."""

    section = HiddenField(default="releve")
    releve_published_at = DateTimeLocalField("Publication des relevés de notes",
                                             format="%Y-%m-%dT%H:%M", validators=[Optional()])


class ReferenceImportForm(FlaskForm):
    file = FileField("Fichier CSV", validators=[FileRequired("Choisissez un fichier CSV à importer.")],
                     render_kw={"accept": ".csv,text/csv"})


class EstablishmentForm(FlaskForm):
    uai = StringField("UAI", validators=[InputRequired("Indiquez l'UAI.")],
                      render_kw={"maxlength": 8, "autocomplete": "off"})
    name = StringField("Nom", validators=[InputRequired("Indiquez le nom.")],
                       render_kw={"maxlength": 200})
    kind = SelectField("Type", choices=[SelectChoice(k.value, label) for k, label
                                        in ESTABLISHMENT_KIND_LABELS.items()])
    city = StringField("Ville", render_kw={"maxlength": 120})
    ccf = BooleanField("Habilité à organiser le CCF (E5 en CCF pour ses candidats scolaires, "
                       "apprentis et de formation continue)")


class CentreForm(FlaskForm):
    code = StringField("Code du centre", validators=[InputRequired("Indiquez le code.")],
                       render_kw={"maxlength": 20, "autocomplete": "off"})
    name = StringField("Nom", validators=[InputRequired("Indiquez le nom.")],
                       render_kw={"maxlength": 200})
    address = StringField("Adresse", render_kw={"maxlength": 300})
    postal_code = StringField("Code postal", render_kw={"maxlength": 5})
    city = StringField("Ville", render_kw={"maxlength": 120})
    room = StringField("Salle (facultatif)", render_kw={"maxlength": 80})
    capacity = StringField("Capacité de la salle", render_kw={"inputmode": "numeric"})
    workstations = StringField("Postes informatiques E5", render_kw={"inputmode": "numeric"})



class PersonForm(FlaskForm):
    last_name = StringField("Nom", validators=[InputRequired("Indiquez le nom.")],
                            render_kw={"maxlength": 100})
    first_name = StringField("Prénom", validators=[InputRequired("Indiquez le prénom.")],
                             render_kw={"maxlength": 100})
    email = StringField("Courriel", validators=[InputRequired("Indiquez l'adresse électronique.")],
                        render_kw={"maxlength": 120, "type": "email", "autocomplete": "off"})
    role = SelectField("Rôle", choices=[
        SelectChoice("enseignant", "Enseignant (juré)"),
        SelectChoice("professionnel", "Professionnel (juré)"),
        SelectChoice("correcteur", "Correcteur (E6)"),
        SelectChoice("chef de centre", "Chef de centre"),
        SelectChoice("gestionnaire", "Gestionnaire")])
    uai = StringField("UAI de l'établissement (enseignant)", render_kw={"maxlength": 8})
    company = StringField("Entreprise (professionnel)", render_kw={"maxlength": 200})
    centre = StringField("Code du centre (chef de centre)", render_kw={"maxlength": 20})


class ActivationLinksForm(FlaskForm):
    """Hand out new activation links: to the people ticked, or to everyone pending."""

    scope = RadioField("Personnes", choices=[
        SelectChoice("selected", "Les personnes cochées"),
        SelectChoice("all", "Toutes les personnes en attente d'activation")],
                       default="selected", validators=[Optional()])
    action = HiddenField()  # set by the button pressed (its name="action" value)
class StatusForm(FlaskForm):
    status = SelectField("Statut du candidat", default="", choices=[SelectChoice("", "Non renseigné")] + [
        SelectChoice(s.value, label) for s, label in CANDIDATE_STATUS_LABELS.items()])


class RegistrationForm(FlaskForm):
    kind = RadioField("Inscription", choices=[SelectChoice(k.value, label) for k, label
                                              in REGISTRATION_KIND_LABELS.items()],
                      validators=[InputRequired("Choisissez une inscription.")])
    form = SelectField("Forme", choices=[SelectChoice("", "Par défaut (selon le statut)"),
                                         SelectChoice("ponctuel", "Ponctuel"),
                                         SelectChoice("ccf", "CCF")], default="")
    kept_mark = StringField("Note conservée (/20)", render_kw={"maxlength": 6,
                                                               "inputmode": "decimal"})
    kept_year = StringField("Session d'obtention", render_kw={"maxlength": 4,
                                                             "inputmode": "numeric"})
    reason = StringField("Motif ou demande", render_kw={"maxlength": 300})
