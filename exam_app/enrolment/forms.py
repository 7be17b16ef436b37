from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired


class CandidateImportForm(FlaskForm):
    file = FileField(
        "Fichier CSV des candidats",
        validators=[FileRequired("Choisissez un fichier CSV à importer.")],
        render_kw={"accept": ".csv,text/csv"},
    )
