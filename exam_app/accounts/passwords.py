"""The password policy: long enough, not common, not derived from the account or the app.

"Common" is judged by zxcvbn (the maintained Python port of Dropbox's estimator, on PyPI
as ``zxcvbn``): its lists of 30,000 frequent passwords, English words, first names and
surnames, with keyboard walks, dates, repeats and l33t substitutions, give an estimate of
the guesses needed. A password must need at least 10^10 guesses (zxcvbn's score 3, "safely
unguessable" for a slowly hashed password, as ours are with scrypt). The account's own
words (username, first and last name) and the app's ("exam", "bts") are refused outright
rather than only weighed, with a message saying so.
"""

from __future__ import annotations

import re
import unicodedata

MIN_LENGTH = 12
MAX_LENGTH = 200
MIN_SCORE = 3
APP_WORDS = ("exam", "bts")
# zxcvbn refuses longer input (its matching is quadratic); the first 72 characters of a
# longer password are judged, and a weak start followed by much more is still long.
ZXCVBN_MAX = 72


def _plain(text: str) -> str:
    """Lower case, without accents: 'Élodie' and 'elodie' are the same word."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _account_words(username: str, first_name: str, last_name: str) -> list[str]:
    """The account's words worth refusing: the names, the username and its parts."""
    words = {username, first_name, last_name, *re.split(r"[^\w]+|_", username),
             *re.split(r"[\s'-]+", first_name), *re.split(r"[\s'-]+", last_name)}
    return sorted({_plain(w) for w in words if len(w.strip()) >= 3})


def password_problem(password: str, *, username: str = "", first_name: str = "",
                     last_name: str = "") -> str | None:
    """Why ``password`` is refused (a French sentence), or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"Le mot de passe doit contenir au moins {MIN_LENGTH} caractères."
    if len(password) > MAX_LENGTH:
        return f"Le mot de passe fait {MAX_LENGTH} caractères au plus."
    plain = _plain(password)
    if any(word in plain for word in _account_words(username, first_name, last_name)):
        return ("Le mot de passe ne doit contenir ni votre identifiant, ni votre prénom, "
                "ni votre nom.")
    if any(word in plain for word in APP_WORDS):
        return "Le mot de passe ne doit pas contenir « exam » ni « bts »."
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:ZXCVBN_MAX],
                    user_inputs=_account_words(username, first_name, last_name))
    if result["score"] < MIN_SCORE:
        return ("Ce mot de passe est trop courant ou trop facile à deviner (mot de passe "
                "fréquent, suite de clavier, date, répétition). Choisissez par exemple "
                "trois ou quatre mots sans rapport entre eux.")
    return None
