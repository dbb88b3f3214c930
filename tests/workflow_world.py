"""A small world for workflow tests: an initialised database with jurisdictions (Sichuan/
Liangshan/Butuo and Zhaojue, Shandong/Linyi/Lanling), agencies, one user per role (and a few
more), and helpers to act as them through the services or the API.

    world = make_world(url)            # engine, model, actors by username, passwords
    world.actor("inv_butuo")           # the Actor of a user (via='cli')
    client = world.client()            # a fastapi TestClient on the app
    client.headers.update(world.auth("inv_butuo"))  # a bearer token of that user
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.orm import Session

from reunite.security import tokens
from reunite.security.jurisdictions import add_agency, add_jurisdiction
from reunite.security.users import bootstrap_actor, create_user
from reunite.settings import load_settings
from reunite.store.db import make_engine, upgrade, write_transaction
from reunite.store.models import Setting
from reunite.store.models_workflow import User
from reunite.store.profiles import GeneticModel

MODEL = GeneticModel("CHN_national_GBT37223", "stepwise", None, min_common_loci=12)
PASSWORD = "correct horse battery staple"

JURISDICTIONS = [  # code, name, parent, name_zh
    ("510000", "Sichuan", "CN", "四川省"),
    ("513400", "Liangshan", "510000", "凉山彝族自治州"),
    ("513429", "Butuo", "513400", "布拖县"),
    ("513431", "Zhaojue", "513400", "昭觉县"),
    ("370000", "Shandong", "CN", "山东省"),
    ("371300", "Linyi", "370000", "临沂市"),
    ("371324", "Lanling", "371300", "兰陵县"),
]
AGENCIES = [  # code, name, jurisdiction, kind
    ("PSB-513429", "Butuo County Public Security Bureau", "513429", "police"),
    ("PSB-513431", "Zhaojue County Public Security Bureau", "513431", "police"),
    ("PSB-371300", "Linyi Municipal Public Security Bureau", "371300", "police"),
    ("LAB-510000", "Sichuan Provincial Forensic DNA Laboratory", "510000", "lab"),
    ("WEL-371300", "Linyi Children's Welfare Institute", "371300", "welfare"),
]
USERS = [  # username, roles, jurisdiction, agency
    ("analyst", ["analyst"], "CN", None),
    ("inv_butuo", ["investigator"], "513429", "PSB-513429"),
    ("inv_zhaojue", ["investigator"], "513431", "PSB-513431"),
    ("inv_linyi", ["investigator"], "371300", "PSB-371300"),
    ("reviewer1", ["reviewer"], "CN", None),
    ("reviewer2", ["reviewer"], "CN", None),
    ("welfare_linyi", ["welfare"], "371300", "WEL-371300"),
    ("registrar", ["registration"], "371324", None),
    ("admin", ["administrator"], "CN", None),
    ("auditor", ["auditor"], "CN", None),
]


@dataclass
class World:
    url: str
    engine: object
    model: GeneticModel
    settings: object
    user_ids: dict[str, int] = field(default_factory=dict)
    _tokens: dict[str, str] = field(default_factory=dict)
    _app: object = None

    def actor(self, username: str, *, via: str = "cli"):
        with Session(self.engine) as s:
            return tokens.actor_of(s, s.get(User, self.user_ids[username]), via=via)

    def token(self, username: str) -> str:
        if username not in self._tokens:
            def work(s):
                raw, _, _ = tokens.issue(s, s.get(User, self.user_ids[username]), kind="api",
                                         lifetime=timedelta(days=1), name="test")
                return raw
            self._tokens[username] = write_transaction(self.engine, work)
        return self._tokens[username]

    def new_token(self, username: str) -> str:
        """A fresh bearer token (not cached)."""
        self._tokens.pop(username, None)
        raw = self.token(username)
        self._tokens.pop(username, None)
        return raw

    def auth(self, username: str) -> dict:
        return {"Authorization": f"Bearer {self.token(username)}"}

    def app(self):
        if self._app is None:
            from reunite.api.app import create_app

            self._app = create_app(settings=self.settings, engine=self.engine)
        return self._app

    def client(self, username: str | None = None):
        from fastapi.testclient import TestClient

        client = TestClient(self.app(), raise_server_exceptions=False)
        if username:
            client.headers.update(self.auth(username))
        return client


def make_world(url: str, *, users=USERS) -> World:
    """Initialise the database at ``url`` and populate jurisdictions, agencies and users."""
    engine = make_engine(url)
    upgrade(engine)
    settings = load_settings(env="development", database_url=url)
    world = World(url=url, engine=engine, model=MODEL, settings=settings)
    boot = bootstrap_actor()

    def work(s):
        s.add(Setting(key="genetic_model", value=json.dumps(MODEL.to_json())))
        for code, name, parent, zh in JURISDICTIONS:
            add_jurisdiction(s, actor=boot, code=code, name=name, parent_code=parent, name_zh=zh)
        for code, name, where, kind in AGENCIES:
            add_agency(s, actor=boot, code=code, name=name, jurisdiction_code=where, kind=kind)
        for username, roles, where, agency in users:
            user = create_user(s, actor=boot, username=username, password=PASSWORD, roles=roles,
                               jurisdiction_code=where, agency_code=agency, display_name=username.title())
            world.user_ids[username] = user.id

    write_transaction(engine, work)
    return world
