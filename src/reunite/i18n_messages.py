"""Names the code stores and the pages show translated: statuses, kinds, relations.

Marked with ``N_`` so that the catalogs carry them (``tests/web/test_i18n.py`` checks); a page
shows ``_(status.replace('_', ' '))``.
"""

from reunite.i18n import N_

STATUSES = [N_("new"), N_("assigned"), N_("under review"), N_("confirmation requested"), N_("confirmed"),
            N_("rejected"), N_("set aside"), N_("open"), N_("candidate under review"), N_("identified"),
            N_("closed"), N_("unidentified")]
