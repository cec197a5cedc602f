"""The analytics dashboard: the numbers it shows are those of GET /api/v1/stats, for the period chosen."""

from __future__ import annotations

import html
import os
import re
import time
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from hub.models import now
from tests.web.conftest import ADMIN, AGENT, SCREENSHOTS, add_users, assert_labelled, login
from tests.web.test_web_unit import do_login

# (channel, days ago, category, language, priority, first response after (min), resolved after (min),
#  CSAT score, first response due after (min), resolution due after (min), SLA state stored by the timer)
SEED = [
    ("sms", 1, "transaction_not_processed", "es", "normal", 12, 240, 5, 60, None, "met"),
    ("sms", 2, "payment_delays", "es", "normal", 95, None, None, 60, None, "breached"),
    ("whatsapp", 3, "suspicious_access_or_hacked_account", "en", "urgent", 9, 150, 4, 15, 180, "met"),
    ("whatsapp", 1, "verification_errors", "ca", "high", 30, 60 * 30, 2, 60, None, "met"),
    ("email", 2, "general_questions", "fr", "low", None, None, None, 2 * 24 * 60 + 6 * 60, None, "at_risk"),
    ("api", 0, "lost_keys_or_recovery_phrase", "en", "urgent", 5, None, None, 15, 48 * 60, "met"),
    ("email", 20, "general_questions", "de", "normal", 240, 600, 1, 60, None, "breached"),
    ("api", 25, "claims_and_refunds", "pt", "normal", 40, 300, 5, 60, None, "met"),
    ("sms", 60, "transaction_not_processed", "es", "normal", 20, 100, 3, 60, None, "met"),
]


def seed(hub) -> None:
    """Conversations written straight through the models, as the pipeline and the SLA timer leave them."""
    from hub.models import Connector, Contact, Conversation, Identity, now

    hub.add_connector("web", "api", secret="dashboard-secret-123")
    t = now()
    with hub.rt.db.session() as s:
        conn = s.query(Connector).filter_by(name="web").one()
        for i, (channel, ago, cat, lang, prio, first, resolved, score, fr_due, res_due, state) in enumerate(SEED):
            created = t - timedelta(days=ago, minutes=30 + i)
            c = Contact(name=f"Customer {i}")
            s.add(c)
            s.flush()
            ident = Identity(contact_id=c.id, medium=channel, address=f"{channel}:{i}", display_name=c.name)
            s.add(ident)
            s.flush()
            sla = {"first_response_due": (created + timedelta(minutes=fr_due)).isoformat(), "first_response": state}
            if res_due:
                sla["resolution_due"] = (created + timedelta(minutes=res_due)).isoformat()
            extra = {"csat": {"asked_at": created.isoformat(), "score": score}} if score else {}
            s.add(Conversation(
                connector_id=conn.id, contact_id=c.id, identity_id=ident.id, thread_key=f"t{i}", token=f"tok{i}",
                subject=f"case {i}", category=cat, language=lang, priority=prio, security_flag=(prio == "urgent"),
                first_response_at=created + timedelta(minutes=first) if first else None,
                resolved_at=created + timedelta(minutes=resolved) if resolved else None,
                status="resolved" if resolved else "open", sla=sla, extra=extra,
                created_at=created, last_message_at=created,
            ))


def rows(page_html: str, element_id: str) -> dict[str, str]:
    """{data-key: data-value} of the rows of the data table inside the element with that id."""
    start = page_html.index(f'id="{element_id}"')
    end = page_html.index("</figure>", start)
    part = page_html[start:end]
    return {k: html.unescape(v) for k, v in re.findall(r'<tr data-key="([^"]+)">.*?data-value="([^"]*)"', part, re.S)}


def stat(page_html: str, name: str) -> str:
    """A summary tile's exact figure (its data-value, else its text)."""
    m = re.search(rf'data-stat="{re.escape(name)}"(?: data-value="([^"]*)")?>([^<]*)<', page_html)
    return html.unescape(m.group(1) if m.group(1) is not None else m.group(2))


def num(text: str) -> float | None:
    return None if text in ("", "None") else float(text)


@pytest.fixture
def dash(hub):
    add_users(hub)
    seed(hub)
    return hub


def page_and_api(hub, days: int) -> tuple[str, dict]:
    c = hub.app.test_client()
    assert do_login(c, AGENT).status_code == 302
    r = c.get(f"/inbox/dashboard?days={days}")
    assert r.status_code == 200
    text = r.get_data(as_text=True)
    # the page links the exact window it computed: ask the API for the same one
    api_url = html.unescape(re.search(r'href="(/api/v1/stats\?[^"]+)">as JSON', text).group(1))
    since = datetime.fromisoformat(parse_qs(urlsplit(api_url).query)["since"][0])
    assert abs((now() - timedelta(days=days) - since).total_seconds()) < 60
    return text, hub.api("GET", api_url).get_json()


@pytest.mark.parametrize("days,expected", [(7, 6), (30, 8), (90, 9)])
def test_dashboard_shows_the_numbers_of_the_stats_api(dash, days, expected):
    text, st = page_and_api(dash, days)
    assert st["conversations"] == expected
    assert int(stat(text, "conversations")) == expected
    assert int(stat(text, "security_flagged")) == st["security_flagged"]
    for chart, key in (("chart-medium", "by_medium"), ("chart-category", "by_category"), ("chart-language", "by_language")):
        shown = {k: int(float(v)) for k, v in rows(text, chart).items()}
        assert shown == st["volume"][key], chart
    for chart, key in (("chart-first-response", "first_response"), ("chart-resolution", "resolution")):
        shown = rows(text, chart)
        for m in ("median", "p90", "avg"):
            assert num(shown[m]) == st[key][f"{m}_minutes"], (chart, m)
    assert num(rows(text, "chart-first-response")["target"]) == 60  # the default policy's first-response target
    for key in ("first_response", "resolution"):
        shown = rows(text, f"chart-sla-{key}")
        assert {k: int(v) for k, v in shown.items()} == {k: st["sla"][key][k] for k in ("met", "ok", "at_risk", "breached")}
    assert {k: int(v) for k, v in rows(text, "chart-csat").items()} == st["csat"]["distribution"]
    assert num(stat(text, "csat.average")) == st["csat"]["average"]
    headline = re.search(r'id="sla-headline">(.*?)</dd>', text, re.S).group(1)
    fr = st["sla"]["first_response"]
    assert f"{fr['met']} met" in headline and f"{fr['breached']} breached" in headline and f"{fr['open']} open" in headline
    assert num(stat(text, "first_response.median_minutes")) == st["first_response"]["median_minutes"]


def test_dashboard_figures_for_the_last_seven_days(dash):
    """Spelled-out numbers, so a dashboard and API that agree on the wrong thing still fail."""
    text, _ = page_and_api(dash, 7)
    assert rows(text, "chart-medium") == {"sms": "2", "whatsapp": "2", "email": "1", "api": "1"}
    assert rows(text, "chart-language") == {"es": "2", "en": "2", "ca": "1", "fr": "1"}
    assert rows(text, "chart-csat") == {"1": "0", "2": "1", "3": "0", "4": "1", "5": "1"}
    assert rows(text, "chart-sla-first_response") == {"met": "4", "ok": "0", "at_risk": "1", "breached": "1"}
    assert rows(text, "chart-sla-resolution") == {"met": "1", "ok": "1", "at_risk": "0", "breached": "0"}
    assert num(rows(text, "chart-first-response")["median"]) == 12.0  # of 5, 9, 12, 30, 95
    # the text alternative of each chart carries its numbers
    assert "Conversations by medium: sms 2 (33%); whatsapp 2 (33%); api 1 (17%); email 1 (17%)." in text
    assert "Spanish (es) 2 (33%)" in text
    assert "CSAT: 3 responses, average 3.67 of 5; 0 rated 1, 1 rated 2, 0 rated 3, 1 rated 4, 1 rated 5." in text
    assert "First response SLA: 4 met, 0 open within target, 1 at risk, 1 breached; compliance 80% of decided conversations." in text
    assert ">12 min<" in text and ">1 d 6 h<" in text  # the median first response; the Catalan case's 30 h resolution
    assert 'class="bar over"' in text  # the 95-minute p90 first response is over the 60-minute target
    assert text.count('role="img"') == 8
    # the configured targets (the built-in policy): hacked account 15 min / goal 1 h / 3 h, around the clock
    assert re.search(r"<th scope=\"row\">suspicious access or hacked account</th><td>15 min</td><td>1 h</td><td>3 h</td>"
                     r"<td>around the clock</td>", text)
    assert re.search(r'aria-current="page">7 days<', text)


def test_dashboard_needs_a_login_and_an_unknown_period_is_thirty_days(dash):
    c = dash.app.test_client()
    r = c.get("/inbox/dashboard", headers={"Accept": "text/html"})
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    do_login(c, ADMIN)
    text = c.get("/inbox/dashboard?days=3650").get_data(as_text=True)
    assert re.search(r'aria-current="page">30 days<', text) and 'data-stat="conversations">8<' in text
    assert 'href="/inbox/dashboard"' in c.get("/inbox/").get_data(as_text=True)  # linked from the navigation


def test_empty_period_renders_without_charts(hub):
    add_users(hub)
    c = hub.app.test_client()
    do_login(c, AGENT)
    text = c.get("/inbox/dashboard").get_data(as_text=True)
    assert 'data-stat="conversations">0<' in text and "No data in this period." in text
    assert "No SLA targets in this period." in text


def test_dashboard_in_the_browser(live, context, artifacts_dir):
    started = time.monotonic()
    seed(live.hub)
    page = context.new_page()
    login(page, live, AGENT)
    page.get_by_role("link", name="Dashboard").click()
    page.wait_for_url(re.compile(r".*/inbox/dashboard$"))
    assert page.get_by_role("link", name="30 days").get_attribute("aria-current") == "page"
    assert page.locator('[data-stat="conversations"]').inner_text() == "8"

    # every chart is drawn: bars with a real width, each SVG named by a sentence with its numbers
    charts = page.get_by_role("img")
    assert charts.count() == 8
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] > 200 and box["height"] > 20
    widths = page.locator("#chart-medium rect.bar").evaluate_all("els => els.map(e => e.getBBox().width)")
    assert len(widths) == 4 and widths == sorted(widths, reverse=True) and widths[-1] > 10
    assert page.get_by_role("img", name=re.compile(r"Conversations by medium: api 2 \(25%\); email 2 \(25%\); sms 2 \(25%\)")).is_visible()
    assert page.locator("#chart-sla-first_response rect.seg").count() == 3  # met, at risk, breached
    assert_labelled(page)
    page.locator("#chart-medium summary").click()
    assert page.get_by_role("table", name="Conversations by medium").is_visible()
    page.locator("#chart-medium summary").click()
    page.screenshot(path=str(artifacts_dir / "dashboard.png"), full_page=True)
    if os.environ.get("OMNIHUB_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / "dashboard.png").write_bytes((artifacts_dir / "dashboard.png").read_bytes())

    # the period selector recomputes
    page.get_by_role("link", name="7 days").click()
    page.wait_for_url(re.compile(r".*days=7$"))
    assert page.locator('[data-stat="conversations"]').inner_text() == "6"

    # on a phone nothing overflows sideways
    page.set_viewport_size({"width": 360, "height": 740})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=str(artifacts_dir / "dashboard-phone.png"), full_page=True)
    assert time.monotonic() - started < 20


def _bar_widths(page_html: str, element_id: str) -> list[float]:
    start = page_html.index(f'id="{element_id}"')
    part = page_html[start:page_html.index("</figure>", start)]
    return [float(w) for w in re.findall(r'<rect x="0" y="\d+" width="([\d.]+)%"', part)]


def test_duration_charts_share_one_scale(dash):
    """First response and resolution times are drawn per minute alike: equal minutes, equal bar length."""
    text, st = page_and_api(dash, 30)
    fr, res = _bar_widths(text, "chart-first-response"), _bar_widths(text, "chart-resolution")
    fr_minutes = [st["first_response"][f"{m}_minutes"] for m in ("median", "p90", "avg")]
    res_minutes = [st["resolution"][f"{m}_minutes"] for m in ("median", "p90", "avg")]
    per_minute = [w / m for w, m in zip(fr + res, fr_minutes + res_minutes, strict=True) if m and w > 1]
    # one scale: widths are rounded to 0.01 %, so the ratios agree within 1 % (separate scales differ ~10x here)
    assert max(per_minute) / min(per_minute) < 1.01, per_minute
    # the longest bar of either chart takes the whole span; the other chart's bars are shorter
    assert max(fr + res) == pytest.approx(76.0)
    assert max(fr) < max(res)
