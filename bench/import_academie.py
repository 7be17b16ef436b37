"""Benchmark: a whole académie imported through the real import path, against a plain
bulk insert of the same rows (issue 13, "Done when").

Generated CSV files, as an académie would upload them:
  establishments.csv  120 rows with their CCF flag, UTF-8, ','
  centres.csv         15 centres x 4 rooms (60 rows), UTF-8 with a BOM, ';'
  people.csv          400 people (teachers, professionals, correcteurs, chefs de centre,
                      gestionnaires), Windows-1252, ';'
  candidates.csv      BENCH_CANDIDATES (5,000) candidates, Windows-1252, ';', with a
                      "Statut" (E5 form given on one row in four, else the status's
                      default) and a "Centre" (given for two candidates in three)

Each side runs in a child process of its own on a fresh database (its own peak RSS):
  import    the service functions the import pages call (reference.import_establishments,
            reference.import_centres, people.import_people, services.import_candidates),
            one commit after each file as the pages do, from the files' bytes on disk;
            then the same four files again (``reimport_seconds``: everything unchanged).
  baseline  the same files read and split with the csv module (known encoding and
            separator), then the same rows written into the same tables in one
            transaction: PostgreSQL ``COPY ... FROM STDIN``, SQLite ``executemany``.
The import side is run again with 1,000 candidates (``peak_rss_mb_1000``) to show
that memory does not grow with the number of rows.

ratio = seconds / baseline_seconds (target <= 10); peak_rss_mb is the import process's
peak (target <= 300). Prints ONE JSON line; never fails on a timing.

    .venv/bin/python bench/import_academie.py                 # temporary SQLite files
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/scratch \\
        .venv/bin/python bench/import_academie.py             # tables dropped and recreated
"""

from __future__ import annotations

import csv
import io
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CANDIDATES = int(os.environ.get("BENCH_CANDIDATES", "5000"))
SMALL = 1000
ESTABLISHMENTS, CENTRES, ROOMS, PEOPLE = 120, 15, 4, 400
FIRST_NAMES = ("Élodie", "Hélène", "Loïc", "François", "Maëlle", "Noé", "Zoé", "Jérôme",
               "Inès", "Benoît", "Léa", "Raphaël")
LAST_NAMES = ("DUPONT", "LEFÈVRE", "MÜLLER", "N'DIAYE", "GARÇON", "BÉRANGER", "ÉMERY",
              "O'NEILL", "DA SILVA", "LE GOFF")
KINDS = ("Lycée public", "Lycée privé", "CFA", "GRETA", "autre")
# The status each kind of establishment's candidates have (as written in the file), and
# the stored value.
KIND_STATUS = ("Scolaire", "Scolaire", "Apprentissage", "Formation continue",
               "Candidat individuel")
STATUSES = {"Scolaire": "scolaire", "Apprentissage": "apprentissage",
            "Formation continue": "formation_continue", "Candidat individuel": "individuel",
            "Enseignement à distance": "distance"}
CCF_STATUSES = {"scolaire", "apprentissage", "formation_continue"}


# --- the files ------------------------------------------------------------------------

def _uai(i: int) -> str:
    return f"{690000 + i:07d}{'ABCDEFGHJK'[i % 10]}"


def _csv(rows: list[list[str]], *, delimiter: str) -> str:
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def write_files(folder: Path, candidates: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    establishments = [["UAI", "Nom", "Type", "Ville", "Habilité CCF"]] + [
        [_uai(i), f"Lycée {LAST_NAMES[i % 10].title()} n°{i}", KINDS[i % 5], "Lyon",
         "oui" if i % 5 < 3 and i % 7 else "non"]
        for i in range(ESTABLISHMENTS)]
    (folder / "establishments.csv").write_text(_csv(establishments, delimiter=","),
                                               encoding="utf-8")
    centres = [["Code centre", "Nom", "Adresse", "Code postal", "Ville", "Salle", "Capacité",
                "Postes E5"]] + [
        [f"C{c:02d}", f"Centre d'examen {c}", f"{c} rue de la République", "69002", "Lyon",
         f"Salle {r + 1}", str(20 + r * 5), str(r * 4)]
        for c in range(CENTRES) for r in range(ROOMS)]
    (folder / "centres.csv").write_text(_csv(centres, delimiter=";"), encoding="utf-8-sig")
    people = [["Nom", "Prénom", "Courriel", "Rôle", "UAI", "Entreprise", "Centre"]]
    for i in range(PEOPLE):
        role, uai, company, centre = "enseignant", _uai(i % ESTABLISHMENTS), "", ""
        if i >= 200:
            role, uai, company = "professionnel", "", f"Société {i} SARL"
        if i >= 360:
            role, company = "correcteur", ""
        if i >= 383:
            role, centre = "chef de centre", f"C{i - 383:02d}"
        if i >= 398:
            role, centre = "gestionnaire", ""
        people.append([LAST_NAMES[i % 10], FIRST_NAMES[i % 12], f"personne.{i}@ac-lyon.fr",
                       role, uai, company, centre])
    (folder / "people.csv").write_bytes(_csv(people, delimiter=";").encode("cp1252"))
    (folder / "candidates.csv").write_bytes(candidate_file(candidates))


def candidate_file(count: int) -> bytes:
    rows = [["N° candidat", "Nom", "Prénom", "Date de naissance", "UAI", "Établissement",
             "Forme E5", "Statut", "Aménagement", "Courriel", "Centre"]]
    for i in range(count):
        e = i % ESTABLISHMENTS
        status = ("Enseignement à distance" if i % 50 == 7 else
                  "Candidat individuel" if i % 40 == 3 else KIND_STATUS[e % 5])
        rows.append([f"02{i:09d}", f"{LAST_NAMES[i % 10]} {i}", FIRST_NAMES[i % 12],
                     f"{1 + i % 28:02d}/{1 + i % 12:02d}/{2003 + i % 4}", _uai(e),
                     f"Lycée {LAST_NAMES[e % 10].title()} n°{e}",
                     ("CCF" if i % 3 else "ponctuel") if i % 4 == 0 else "", status,
                     "1/3" if i % 25 == 0 else "",
                     f"candidat.{i}@example.fr" if i % 2 else "",
                     f"C{e % CENTRES:02d}" if i % 3 else ""])
    return _csv(rows, delimiter=";").encode("cp1252")


# --- the child processes --------------------------------------------------------------

def rss_mb(key: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def fresh_app(url: str):
    from exam_app import create_app
    from exam_app.extensions import db

    app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        db.drop_all()
        db.create_all()
    return app


def set_up_session():
    """The gestionnaire who imports and the session, through the services (untimed)."""
    from exam_app.accounts.models import Role, RoleAssignment, User
    from exam_app.enrolment.sessions import create_session
    from exam_app.extensions import db

    actor = User(username="gestion", first_name="Gestion", last_name="Naire",
                 password_hash="!", session_token=secrets.token_hex(16))  # noqa: S106 - unusable
    actor.roles.append(RoleAssignment(role=Role.GESTIONNAIRE.value))
    db.session.add(actor)
    db.session.flush()
    session = create_session(actor=actor, code="LYON27", name="BTS SAM 2027",
                             academie="Académie de Lyon", year=2027)
    db.session.commit()
    return actor, session


def child_import(url: str, folder: Path) -> dict:
    app = fresh_app(url)
    from exam_app.accounts.models import User
    from exam_app.enrolment import people, reference, services
    from exam_app.enrolment.models import ExamSession
    from exam_app.extensions import db

    with app.app_context():
        actor, session = set_up_session()
        max_rows = app.config["IMPORT_MAX_ROWS"]

        def run_all(actor, session) -> tuple[dict, dict]:
            steps, reports = {}, {}
            for name, call in (
                ("establishments", lambda data: reference.import_establishments(
                    data=data, actor=actor, max_rows=max_rows, filename="establishments.csv")),
                ("centres", lambda data: reference.import_centres(
                    session=session, data=data, actor=actor, max_rows=max_rows,
                    filename="centres.csv")),
                ("people", lambda data: people.import_people(
                    session=session, data=data, actor=actor, max_rows=max_rows,
                    filename="people.csv")),
                ("candidates", lambda data: services.import_candidates(
                    session=session, data=data, actor=actor, max_rows=max_rows,
                    filename="candidates.csv")),
            ):
                start = time.perf_counter()
                report = call((folder / f"{name}.csv").read_bytes())
                assert report.ok, (name, [str(e) for e in report.errors[:5]])
                db.session.commit()
                steps[name] = round(time.perf_counter() - start, 3)
                reports[name] = (report.created, report.updated, report.unchanged)
            return steps, reports

        rss_before = rss_mb()
        start = time.perf_counter()
        steps, reports = run_all(actor, session)
        seconds = time.perf_counter() - start
        peak = peak_rss_mb()
        # The same files again, as a new request would (nothing in the ORM session).
        actor_id, session_id = actor.id, session.id
        db.session.remove()
        start = time.perf_counter()
        _, again = run_all(db.session.get(User, actor_id), db.session.get(ExamSession, session_id))
        reimport = time.perf_counter() - start
        assert all(created == updated == 0 for created, updated, _ in again.values()), again
        counts = row_counts()
        db.session.remove()
        db.drop_all()
        db.engine.dispose()
    return {"seconds": seconds, "steps": steps, "created": {k: v[0] for k, v in reports.items()},
            "reimport_seconds": reimport, "peak_rss_mb": peak, "rss_before_import_mb": rss_before,
            "rows": counts}


def row_counts() -> dict:
    import sqlalchemy as sa

    from exam_app.extensions import db

    tables = ("establishment", "centre", "centre_room", "user", "role_assignment",
              "person_profile", "candidate", "candidate_unit_form")
    counts = {t: db.session.scalar(sa.text(f'SELECT count(*) FROM "{t}"'))  # noqa: S608
              for t in tables}
    # What the status and centre columns gave: both sides must agree on these too.
    for name, query in (
            ("ccf_allowed", "SELECT count(*) FROM establishment WHERE is_ccf_allowed"),
            ("with_centre", "SELECT count(*) FROM candidate WHERE centre_id IS NOT NULL "
                            "AND centre_origin = 'import'"),
            ("ccf_forms", "SELECT count(*) FROM candidate_unit_form "
                          "WHERE kind = 'sit' AND form = 'ccf'")):
        counts[name] = db.session.scalar(sa.text(query))
    counts["statuses"] = dict(sorted(db.session.execute(sa.text(
        "SELECT status, count(*) FROM candidate GROUP BY status")).all()))
    return counts


def _read(path: Path, encoding: str, delimiter: str) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode(encoding), newline=""),
                           delimiter=delimiter))
    return rows[1:]


def baseline_rows(folder: Path, *, session_id: int, first_id: int) -> dict[str, tuple]:
    """The rows the import writes, as a plain loader would build them from the files:
    (columns, rows) by table, ids given explicitly."""
    from datetime import datetime

    from exam_app.enrolment.models import search_key

    now = datetime.utcnow()  # noqa: DTZ003 - naive UTC, as UTCDateTime stores it
    kinds = {"Lycée public": "lycee_public", "Lycée privé": "lycee_prive", "CFA": "cfa",
             "GRETA": "greta", "autre": "autre"}
    next_id = iter(range(first_id, 10**9))
    establishments, uai_ids, ccf_allowed = [], {}, set()
    for uai, name, kind, city, ccf in _read(folder / "establishments.csv", "utf-8", ","):
        uai_ids[uai] = id_ = next(next_id)
        establishments.append((id_, uai, name, kinds[kind], city, ccf == "oui"))
        if ccf == "oui":
            ccf_allowed.add(uai)
    centres, rooms, centre_ids = [], [], {}
    for code, name, address, postal, city, room, capacity, stations in _read(
            folder / "centres.csv", "utf-8-sig", ";"):
        if code not in centre_ids:
            centre_ids[code] = id_ = next(next_id)
            centres.append((id_, session_id, code, name, address, postal, city))
        rooms.append((next(next_id), centre_ids[code], room, int(capacity), int(stations)))
    users, roles, profiles = [], [], []
    role_names = {"enseignant": "examinateur", "professionnel": "examinateur",
                  "correcteur": "correcteur", "chef de centre": "chef_centre",
                  "gestionnaire": "gestionnaire"}
    for last, first, email, role, uai, company, centre in _read(
            folder / "people.csv", "cp1252", ";"):
        user_id = next(next_id)
        users.append((user_id, email.lower(), email, first, last, "!" + secrets.token_hex(16),
                      True, secrets.token_hex(16), now))
        roles.append((next(next_id), user_id, role_names[role], centre_ids.get(centre)))
        if uai or company:
            profiles.append((user_id, uai_ids.get(uai), company))
    candidates, forms = [], []
    for number, last, first, birth, uai, _, form, status, extra, email, centre in _read(
            folder / "candidates.csv", "cp1252", ";"):
        id_ = next(next_id)
        day, month, year = birth.split("/")
        status = STATUSES[status]
        candidates.append((id_, session_id, number, last, first,
                           date(int(year), int(month), int(day)), uai_ids[uai],
                           centre_ids.get(centre), "import" if centre else None, status,
                           extra or None, email or None, search_key(last, first, number),
                           now, now))
        if not form:  # the status's default: CCF where the establishment may run it
            form = "CCF" if status in CCF_STATUSES and uai in ccf_allowed else "ponctuel"
        forms.append((id_, "E5", "sit", "ccf" if form == "CCF" else "ponctuel"))
    return {
        "establishment": (("id", "uai", "name", "kind", "city", "is_ccf_allowed"),
                          establishments),
        "centre": (("id", "session_id", "code", "name", "address", "postal_code", "city"),
                   centres),
        "centre_room": (("id", "centre_id", "name", "capacity", "workstations"), rooms),
        "user": (("id", "username", "email", "first_name", "last_name", "password_hash",
                  "is_enabled", "session_token", "created_at"), users),
        "role_assignment": (("id", "user_id", "role", "centre_id"), roles),
        "person_profile": (("user_id", "establishment_id", "company"), profiles),
        "candidate": (("id", "session_id", "number", "last_name", "first_name", "birth_date",
                       "establishment_id", "centre_id", "centre_origin", "status",
                       "extra_time", "email", "search_text", "created_at", "updated_at"),
                      candidates),
        "candidate_unit_form": (("candidate_id", "unit_code", "kind", "form"), forms),
    }


def child_baseline(url: str, folder: Path) -> dict:
    import sqlalchemy as sa

    app = fresh_app(url)
    from exam_app.extensions import db

    with app.app_context():
        _, session = set_up_session()
        session_id = session.id
        first_id = 1 + db.session.scalar(sa.text('SELECT max(id) FROM "user"'))
        db.session.remove()
        backend = db.engine.url.get_backend_name()
        raw = db.engine.raw_connection()
        connection = raw.driver_connection
        start = time.perf_counter()
        tables = baseline_rows(folder, session_id=session_id, first_id=first_id)
        cursor = connection.cursor()
        for table, (columns, rows) in tables.items():
            names = ", ".join(columns)
            if backend == "postgresql":
                with cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(columns))
                cursor.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})',  # noqa: S608
                                   [tuple(str(v) if hasattr(v, "isoformat") else v for v in r)
                                    for r in rows])
        connection.commit()
        seconds = time.perf_counter() - start
        peak = peak_rss_mb()
        raw.close()
        counts = row_counts()
        db.session.remove()
        db.drop_all()
        db.engine.dispose()
    return {"seconds": seconds, "peak_rss_mb": peak, "rows": counts}


def run_child(kind: str, url: str, folder: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", kind, url, str(folder)],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{kind} child failed ({done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-import-"))
    base = os.environ.get("BENCH_DATABASE_URL")
    counter = iter(range(100))

    def url() -> str:
        return base or f"sqlite:///{tmp}/bench-{next(counter)}.db"

    write_files(tmp / "full", CANDIDATES)
    write_files(tmp / "small", SMALL)
    baseline = run_child("baseline", url(), tmp / "full")
    full = run_child("import", url(), tmp / "full")
    small = run_child("import", url(), tmp / "small")
    assert full["rows"] == baseline["rows"], (full["rows"], baseline["rows"])
    import sqlalchemy as sa

    print(json.dumps({
        "bench": "import_academie",
        "database": sa.make_url(url()).get_backend_name(),
        "candidates": CANDIDATES,
        "establishments": ESTABLISHMENTS, "centres": CENTRES, "rooms": CENTRES * ROOMS,
        "people": PEOPLE,
        "seconds": round(full["seconds"], 3),
        "baseline_seconds": round(baseline["seconds"], 3),
        "ratio": round(full["seconds"] / baseline["seconds"], 2),
        "steps_seconds": full["steps"],
        "reimport_seconds": round(full["reimport_seconds"], 3),
        "peak_rss_mb": full["peak_rss_mb"],
        "rss_before_import_mb": full["rss_before_import_mb"],
        f"peak_rss_mb_{SMALL}": small["peak_rss_mb"],
        f"rss_before_import_mb_{SMALL}": small["rss_before_import_mb"],
        f"seconds_{SMALL}": round(small["seconds"], 3),
        # What the import adds to the process (peak minus the app loaded, before the files).
        "peak_growth_mb": round(full["peak_rss_mb"] - full["rss_before_import_mb"], 1),
        f"peak_growth_mb_{SMALL}": round(small["peak_rss_mb"] - small["rss_before_import_mb"], 1),
        "baseline_peak_rss_mb": baseline["peak_rss_mb"],
        "rows": full["rows"],
    }))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        kind, db_url, files = sys.argv[2], sys.argv[3], Path(sys.argv[4])
        result = (child_import if kind == "import" else child_baseline)(db_url, files)
        print(json.dumps(result))
    else:
        main()
