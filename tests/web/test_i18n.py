"""Every message of the pages, the PDF reports and the e-mails has its Chinese translation;
two catalogs never translate one message two ways; placeholders survive translation."""

import re
from collections import defaultdict
from importlib.resources import files
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from reunite import i18n

SRC = Path(__file__).resolve().parents[2] / "src" / "reunite"
#: where translated messages are written: templates and the modules that call gettext
METHOD_MAP = [("web/templates/**.html", "jinja2"), ("web/**.py", "python"), ("reports/**.py", "python"),
              ("i18n_messages.py", "python"), ("cases/delivery.py", "python")]
OPTIONS = {"web/templates/**.html": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true",
                                     "trim_blocks": "true", "lstrip_blocks": "true"}}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def used_messages():
    found = {}
    for filename, lineno, message, comments, context in extract_from_dir(
            SRC, METHOD_MAP, options_map=OPTIONS, keywords={"_": None, "gettext": None, "ngettext": (1, 2),
                                                            "N_": None}):
        key = message if isinstance(message, str) else tuple(message)
        found.setdefault(key, f"{filename}:{lineno}")
    return found


def test_every_message_has_a_chinese_translation():
    chinese = i18n.catalog("zh_CN")
    missing = [f"{where}: {msg!r}" for msg, where in used_messages().items()
               if (msg if isinstance(msg, str) else tuple(msg)) not in chinese]
    assert not missing, f"{len(missing)} messages without a zh_CN translation:\n" + "\n".join(sorted(missing))


def test_catalogs_agree_and_keep_placeholders():
    seen = defaultdict(set)
    folder = files("reunite") / "locale" / "zh_CN"
    for entry in folder.iterdir():
        if entry.name.endswith(".po"):
            with entry.open("rb") as f:
                for m in read_po(f, locale="zh_CN"):
                    if m.id:
                        key = m.id if isinstance(m.id, str) else tuple(m.id)
                        value = m.string if isinstance(m.string, str) else tuple(m.string)
                        seen[key].add((value, entry.name))
                        for one_id, one_str in zip(m.id if isinstance(m.id, (list, tuple)) else [m.id],
                                                   m.string if isinstance(m.string, (list, tuple)) else [m.string]):
                            assert set(PLACEHOLDER.findall(one_id)) == set(PLACEHOLDER.findall(one_str or one_id)), \
                                f"{entry.name}: {one_id!r} -> {one_str!r}: the placeholders differ"
    clashes = {k: v for k, v in seen.items() if len({value for value, _ in v}) > 1}
    assert not clashes, f"messages translated differently in two catalogs: {clashes}"


def test_formatting_follows_the_language():
    from datetime import date

    with i18n.use_language("en"):
        assert i18n.format_date(date(2025, 3, 1)) == "Mar 1, 2025"
        assert i18n.format_number(1234567) == "1,234,567"
        assert i18n.format_lr(1.23e9) == "1.23E9"
        assert i18n.format_lr(float("inf")) == "∞" and i18n.format_lr(float("nan")) == "NaN"
    with i18n.use_language("zh_CN"):
        assert i18n.format_date(date(2025, 3, 1)) == "2025年3月1日"
        assert i18n.gettext("Dashboard") == "仪表板"
    assert i18n.negotiate("en-GB,en;q=0.9,zh;q=0.5") == "en"
    assert i18n.negotiate("zh-CN,zh;q=0.9") == "zh_CN"
    assert i18n.negotiate("fr") == i18n.DEFAULT_LANGUAGE
