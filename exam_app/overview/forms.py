"""Forms of the chef de centre's pages. They carry the values; the services check them
(one set of French messages)."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField


class RoomForm(FlaskForm):
    """One room of the centre: a row of the rooms page (prefix ``room-<id>-``) or the
    new room (prefix ``new-``)."""

    name = StringField("Nom de la salle", render_kw={"maxlength": 80})
    capacity = StringField("Places", render_kw={"inputmode": "numeric", "maxlength": 4})
    workstations = StringField("Postes E5", render_kw={"inputmode": "numeric", "maxlength": 4})


class RemoveRoomForm(FlaskForm):
    """Remove one room (its id in ``room``)."""

    room = HiddenField()
