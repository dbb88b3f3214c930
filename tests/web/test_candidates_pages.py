"""The candidate pages: the list with its filters, the candidate page (both pedigrees, the
per-locus table), the review walked through the page's forms with four eyes, refusals."""

import re
import xml.etree.ElementTree as ET

from sqlalchemy import select

from reunite.cases import candidates as service
from reunite.store.models import MatchCandidate
from review_fixtures import second_child_sample, world_fixtures
from web_client import follow, post_form, web_login

template, rw = world_fixtures("candidate_pages")

ROW = re.compile(r'<a href="/candidates/(\d+)">')
SVG = re.compile(r"<svg .*?</svg>", re.S)


def listed(page) -> list[int]:
    assert page.status_code == 200, page.text[:2000]
    return [int(x) for x in ROW.findall(page.text)]


def version_of(page) -> str:
    return re.search(r'name="version" value="(\d+)"', page.text).group(1)


def test_list_filters(rw):
    client = web_login(rw.world, "reviewer1")
    everything = listed(client.get("/candidates?limit=500"))
    assert everything
    all_rows = rw.read(lambda s: s.execute(select(MatchCandidate.id, MatchCandidate.log10_lr)
                                           .order_by(MatchCandidate.log10_lr.desc())).all())
    assert everything == [cid for cid, _ in all_rows][:len(everything)], "highest LR first"
    strong = listed(client.get("/candidates?min_log10_lr=4&limit=500"))
    assert strong and set(strong) == {cid for cid, lr in all_rows if lr >= 4}
    assert all(lr >= 4 for cid, lr in all_rows if cid in strong)
    weak = listed(client.get("/candidates?max_log10_lr=1&min_log10_lr=0"))
    assert all(0 <= lr <= 1 for cid, lr in all_rows if cid in weak)
    # family type, jurisdiction, dates, status, assignee
    types = rw.read(lambda s: service.family_types(s, actor=rw.actor("reviewer1")))
    one = listed(client.get(f"/candidates?family_type={types[0]}"))
    assert one and len(one) < len(everything) or len(types) == 1
    assert listed(client.get("/candidates?jurisdiction=371300"))  # the children are found in Linyi
    assert listed(client.get("/candidates?jurisdiction=513431")) == []  # Zhaojue: nothing
    assert listed(client.get("/candidates?created_from=2000-01-01&created_to=2999-12-31"))
    assert listed(client.get("/candidates?created_to=2000-01-01")) == []
    assert listed(client.get("/candidates?status=confirmed")) == []
    assert listed(client.get("/candidates?assignee=reviewer2")) == []
    page = client.get("/candidates?min_log10_lr=abc")
    assert page.status_code == 400 and "min_log10_lr" in page.text
    page = client.get("/candidates?created_from=2020-02-01&created_to=2020-01-01")
    assert page.status_code == 400 and "created_to" in page.text
    # pages: the cursor link continues the same filters
    first = client.get("/candidates?min_log10_lr=0&sort=id")
    assert first.status_code == 200


def test_list_pages_follow_the_cursor(rw):
    client = web_login(rw.world, "reviewer1")
    page = rw.read(lambda s: service.list_candidates(s, actor=rw.actor("reviewer1"), limit=2))
    assert page.next_cursor
    first = client.get("/candidates")
    nxt = re.search(r'href="\?([^"]*cursor=[^"]+)"', first.text)
    if nxt:  # more than one page of the default size
        second = client.get("/candidates?" + nxt.group(1).replace("&amp;", "&"))
        assert set(listed(second)).isdisjoint(listed(first))


def test_detail_shows_the_loci_and_both_pedigrees(rw):
    u, f, m, cid = rw.true_pairs()[0]
    client = web_login(rw.world, "reviewer1")
    page = client.get(f"/candidates/{cid}")
    assert page.status_code == 200, page.text[:3000]
    text = page.text
    svgs = SVG.findall(text)
    assert len(svgs) == 2
    for svg in svgs:
        ET.fromstring(svg)
        assert "style=" not in svg
    assert u in svgs[1] and "unrelated" in svgs[1]
    assert 'data-missing="true"' in svgs[0] and 'data-typed="true"' in svgs[0]
    profile = rw.profile_of(u)
    for locus in profile:
        assert f'<th scope="row">{locus}</th>' in text
    assert "Per-locus comparison" in text and "Allele frequency table" in text and "Verbal equivalent" in text
    assert "Posterior probability" in text and "Sex and age" in text and "History" in text
    assert "style=" not in text
    assert "report.pdf" not in text  # not confirmed
    # no step for an analyst who may only attach samples: only that form
    analyst = web_login(rw.world, "analyst").get(f"/candidates/{cid}").text
    assert 'action="/candidates/%d/confirmation-sample"' % cid in analyst
    assert "/assign" not in analyst and "/reject" not in analyst
    # the investigator (Butuo, the family's county) sees the family's names; the reading is audited
    investigator = web_login(rw.world, "inv_butuo").get(f"/candidates/{cid}")
    assert investigator.status_code == 200 and "王小" in investigator.text
    assert "王小" not in text  # a reviewer has no personal:read


def test_zh_cn_page_is_in_chinese(rw):
    u, f, m, cid = rw.true_pairs()[0]
    client = web_login(rw.world, "reviewer1", lang="zh_CN")
    page = client.get(f"/candidates/{cid}")
    assert page.status_code == 200
    assert "逐位点比较" in page.text and "候选比中" in page.text and "模型假设" in page.text
    assert "图例" in page.text
    listing = client.get("/candidates")
    assert listing.status_code == 200 and "筛选" in listing.text


def test_review_walk_with_four_eyes(rw):
    u, f, m, cid = rw.true_pairs()[0]
    inv = web_login(rw.world, "inv_butuo")
    r1 = web_login(rw.world, "reviewer1")
    r2 = web_login(rw.world, "reviewer2")
    page = inv.get(f"/candidates/{cid}")
    assert 'action="/candidates/%d/assign"' % cid in page.text
    assert "start-review" not in page.text
    done = post_form(inv, f"/candidates/{cid}/assign", {"to": "reviewer1", "version": version_of(page)})
    page = follow(inv, done)
    assert "assigned" in page.text
    # a stale page: the version read before is refused with 409
    stale = post_form(inv, f"/candidates/{cid}/assign", {"to": "reviewer2", "version": "1"})
    assert stale.status_code == 409 and "version" in stale.text and "Not done" in stale.text
    # reviewer2 is not the assignee: no start-review button
    assert f'action="/candidates/{cid}/start-review"' not in r2.get(f"/candidates/{cid}").text
    page = r1.get(f"/candidates/{cid}")
    assert f'action="/candidates/{cid}/start-review"' in page.text
    page = follow(r1, post_form(r1, f"/candidates/{cid}/start-review", {"version": version_of(page)}))
    assert "under review" in page.text
    # reject without a reason: refused with a message, nothing changed
    refused = post_form(r1, f"/candidates/{cid}/reject", {"reason": "  ", "version": version_of(page)})
    assert refused.status_code == 400 and "reason" in refused.text
    page = follow(r1, post_form(r1, f"/candidates/{cid}/request-confirmation",
                                {"version": version_of(page), "comment": "strong match"}))
    assert "confirmation requested" in page.text
    # the requester may not confirm: no button, and the service refuses a posted form
    assert f'action="/candidates/{cid}/confirm"' not in page.text
    # the confirmation sample (a second sample of the child), attached through the page
    second_child_sample(rw, u, "WEB-CHILD-2")
    analyst = web_login(rw.world, "analyst")
    done = post_form(analyst, f"/candidates/{cid}/confirmation-sample", {"sample": "WEB-CHILD-2", "target": "child"})
    page = follow(analyst, done)
    assert "WEB-CHILD-2" in page.text and "supports the match" in page.text
    page = r1.get(f"/candidates/{cid}")
    same = post_form(r1, f"/candidates/{cid}/confirm", {"version": version_of(page)})
    assert same.status_code == 403 and "four eyes" in same.text
    page = r2.get(f"/candidates/{cid}")
    assert f'action="/candidates/{cid}/confirm"' in page.text
    page = follow(r2, post_form(r2, f"/candidates/{cid}/confirm", {"version": version_of(page)}))
    assert "confirmed" in page.text and "report.pdf" in page.text
    status = rw.read(lambda s: s.get(MatchCandidate, cid).status)
    assert status == "confirmed"
    assert "There is no step you can take" in page.text


def test_set_aside_by_a_reviewer_needs_a_reason(rw):
    u, f, m, cid = rw.true_pairs()[0]
    r1 = web_login(rw.world, "reviewer1")
    page = r1.get(f"/candidates/{cid}")
    refused = post_form(r1, f"/candidates/{cid}/set-aside", {"reason": "", "version": version_of(page)})
    assert refused.status_code == 400 and "reason" in refused.text
    page = follow(r1, post_form(r1, f"/candidates/{cid}/set-aside",
                                {"reason": "duplicate of another candidate", "version": version_of(page)}))
    assert "set aside" in page.text and "duplicate of another candidate" in page.text


def test_refusals(rw):
    u, f, m, cid = rw.true_pairs()[0]
    admin = web_login(rw.world, "admin")  # no candidate:read
    assert admin.get("/candidates").status_code == 403
    assert admin.get(f"/candidates/{cid}").status_code == 403
    assert post_form(admin, f"/candidates/{cid}/reject", {"reason": "x"}).status_code == 403
    r1 = web_login(rw.world, "reviewer1")
    assert r1.get("/candidates/999999").status_code == 404
    # a form without its CSRF token
    assert r1.post(f"/candidates/{cid}/reject", data={"reason": "x"}).status_code == 403
    # a county investigator of another county: the candidate is outside their jurisdiction, no steps
    zhaojue = web_login(rw.world, "inv_zhaojue")
    page = zhaojue.get(f"/candidates/{cid}")
    assert page.status_code == 200 and "There is no step you can take" in page.text and "王小" not in page.text
    refused = post_form(zhaojue, f"/candidates/{cid}/assign", {"to": "reviewer1"})
    assert refused.status_code == 403


def test_pedigree_people_labels_show_no_names(rw):
    u, f, m, cid = rw.true_pairs()[0]
    people = rw.read(lambda s: service.pedigree_people(s, cid, actor=rw.actor("inv_butuo")))
    fam, alt = people["family"], people["alternative"]
    missing = [p for p in fam if p.missing and p.id == m]
    assert len(missing) == 1 and missing[0].typed and u in missing[0].label
    assert [p for p in alt if p.id == m][0].typed is False
    assert alt[-1].typed and not alt[-1].father and not alt[-1].mother
    assert not any("王" in (p.label or "") + (p.note or "") for p in fam + alt)
