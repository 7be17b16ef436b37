from exam_app import demo
from exam_app.e6 import bareme, marking
from exam_app.e6.lots import session_lots


def test_demo_gives_each_demo_correcteur_a_lot_with_some_marks(demo_db):
    session = demo.ExamSession.query.filter_by(code=demo.DEMO_CODE).one()
    lots = session_lots(session.id)
    assert [lot.corrector.username for lot in lots] == ["correcteur1", "correcteur2",
                                                       "correcteur3"]
    assert [lot.state for lot in lots] == ["open", "validated", "validated"]
    marked = [sum(1 for c in marking.lot_copies(lot) if c.raw_total is not None)
              for lot in lots]
    assert marked == [6, len(marking.lot_copies(lots[1])), len(marking.lot_copies(lots[2]))]
    assert len(bareme.questions(session.id)) == 4
