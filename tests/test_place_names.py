"""Places are named in the reader's language: English from the county up, Chinese from the
province down (pages in zh_CN show the Chinese)."""

from sqlalchemy.orm import Session

from reunite.cases.places import place_label, resolve_place
from reunite.security.users import bootstrap_actor
from reunite.store.db import write_transaction
from workflow_world import make_world


def test_place_label_in_both_languages(tmp_path):
    world = make_world(f"sqlite:///{tmp_path / 'w.db'}")
    jid = write_transaction(world.engine, lambda s: resolve_place(s, "371324", actor=bootstrap_actor(),
                                                                   what="place").id)
    with Session(world.engine) as s:
        assert place_label(s, jid) == "Lanling, Linyi, Shandong (371324)"
        assert place_label(s, jid, language="zh_CN") == "山东省临沂市兰陵县 (371324)"
        assert place_label(s, None, language="zh_CN") is None
