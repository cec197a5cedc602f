"""normalizers/slack.py against real captured Events API callbacks and Slack's masked shapes."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest

from normalizers import slack
from normalizers.model import NormalizedMessage
from tests.support.corpus import CORPUS

HASKELL = CORPUS / "slack" / "slack-web-haskell" / "tests" / "golden" / "SlackWebhookEvent"
MASKED = CORPUS / "slack" / "slack-java-sdk-json-logs" / "json-logs" / "samples" / "events"

# Every real captured callback and what it must become: a message kind, or the reason it is
# ignored on purpose. The list is the whole folder: a new file fails test_every_file_listed.
HASKELL_EXPECTED = {
    "app_home_opened_home.json": "ignored:app_home_opened event",
    "app_home_opened_messages.json": "ignored:app_home_opened event",
    "botMessage.json": "ignored:message from our own bot",
    "channel_left.json": "ignored:channel_left event",
    "channel_shared.json": "ignored:channel_shared event",
    "channel_unshared.json": "ignored:channel_unshared event",
    "circleci.json": "ignored:bot message",
    "createChannel.json": "ignored:channel_created event",
    "email_message.json": "ignored:bot message",
    "forwarded_message.json": "message",
    "github_notification.json": "ignored:bot message",
    "github_notification_ts_string.json": "ignored:bot message",
    "github_with_link.json": "ignored:bot message",
    "joinChannel.json": "ignored:housekeeping message (channel_join)",
    "link.json": "message",
    "messageChange.json": "ignored:message_changed without a text change (unfurl or thread metadata)",
    "messageExample.json": "message",
    "messageIm.json": "message",
    "message_deleted.json": "delete",
    "message_file_share.json": "message",
    "message_file_share_slack_connect.json": "message",
    "message_rich_text.json": "message",
    "message_subtype_bot_message.json": "ignored:bot message",
    "non_spec_attachment.json": "ignored:bot message",
    "share_with_message.json": "message",
    "share_without_message.json": "message",
    "shared_message_no_content.json": "message",
    "slackbotIm.json": "ignored:Slackbot message",
}


def load(path) -> dict:
    return json.loads(path.read_bytes())


def outcome(payload: bytes | dict, **kw) -> str:
    env = slack.load(payload)
    kw.setdefault("selection", ("all", "dm"))
    reason = slack.ignore_reason(env, kw["selection"])
    msgs = slack.normalize(payload, connector="sl", **kw)
    if reason:
        assert msgs == []
        return f"ignored:{reason}"
    assert len(msgs) == 1 and isinstance(msgs[0], NormalizedMessage)
    return msgs[0].kind


def norm(payload, **kw) -> NormalizedMessage:
    msgs = slack.normalize(payload, connector="sl", **kw)
    assert len(msgs) == 1, msgs
    return msgs[0]


def test_every_file_listed():
    assert sorted(p.name for p in HASKELL.glob("*.json")) == sorted(HASKELL_EXPECTED)


@pytest.mark.parametrize("name", sorted(HASKELL_EXPECTED))
def test_haskell_corpus(name):
    payload = (HASKELL / name).read_bytes()
    assert outcome(payload) == HASKELL_EXPECTED[name]
    for msg in slack.normalize(payload, connector="sl"):
        # round-trips through the journal/job form
        assert NormalizedMessage.from_dict(json.loads(json.dumps(msg.to_dict()))) == msg


def test_haskell_counts():
    results = [outcome((HASKELL / n).read_bytes()) for n in sorted(HASKELL_EXPECTED)]
    ignored = [r for r in results if r.startswith("ignored:")]
    assert len(results) == 28
    assert len(ignored) == 17  # housekeeping, bots, Slackbot, our own bot, unfurl-only edit
    assert results.count("message") == 10 and results.count("delete") == 1


def test_plain_channel_message():
    env = load(HASKELL / "messageExample.json")
    msg = norm(env, users={"U043H11ES4V": {"name": "Jade L", "email": "Jade@Example.com", "team": "T043DB835ML"}})
    ev = env["event"]
    assert msg.external_id == f"{ev['channel']}:{ev['ts']}"
    assert msg.thread_key == f"{ev['channel']}:{ev['ts']}"  # a top-level message starts a thread
    assert msg.sender.address == "U043H11ES4V"
    assert msg.sender.name == "Jade L"
    assert msg.sender.verified_email == "jade@example.com"
    assert msg.sent_at == datetime.fromtimestamp(float(ev["ts"]), tz=UTC)
    assert msg.text == ev["text"]
    assert msg.extra["event_id"] == env["event_id"]


def test_unresolved_user_keeps_id_and_no_email():
    msg = norm(load(HASKELL / "messageExample.json"))
    assert msg.sender.name == "U043H11ES4V" and msg.sender.verified_email is None


def test_thread_reply_joins_parent_thread():
    env = load(HASKELL / "messageExample.json")
    parent_ts = env["event"]["ts"]
    reply = copy.deepcopy(env)
    reply["event"].update(ts="1663966999.000100", thread_ts=parent_ts, parent_user_id="U043H11ES4V", text="follow-up")
    parent, child = norm(env), norm(reply)
    assert child.thread_key == parent.thread_key == f"{env['event']['channel']}:{parent_ts}"
    assert child.external_id != parent.external_id
    assert child.extra["thread_ts"] == parent_ts


def test_thread_broadcast_is_a_message_in_its_thread():
    env = load(HASKELL / "messageExample.json")
    env["event"].update(subtype="thread_broadcast", thread_ts="1663960000.000001", ts="1663966999.000200")
    assert norm(env).thread_key == f"{env['event']['channel']}:1663960000.000001"


def test_dm_thread_key_is_the_dm_channel():
    env = load(HASKELL / "messageIm.json")
    msg = norm(env)
    assert msg.thread_key == "D0442US94JD"
    later = copy.deepcopy(env)
    later["event"]["ts"] = "1664409999.000001"
    assert norm(later).thread_key == msg.thread_key  # the hub splits DMs by idle gap / resolution


def test_message_changed_is_an_edit_of_the_original():
    env = load(HASKELL / "messageChange.json")
    env["event"]["message"]["text"] = "corrected *text*"
    env["event"]["message"]["edited"] = {"user": "U043H11ES4V", "ts": "1663969334.000000"}
    msg = norm(env)
    original_ts = env["event"]["message"]["ts"]
    assert msg.kind == "edit"
    assert msg.in_reply_to == f"C043YJGBY49:{original_ts}"
    assert msg.external_id == f"C043YJGBY49:{original_ts}:edit:1663969334.000000"
    assert msg.text == "corrected text" and "<b>text</b>" in msg.html
    assert msg.thread_key == f"C043YJGBY49:{original_ts}"


def test_tombstone_edit_is_a_delete():
    env = load(HASKELL / "messageChange.json")
    env["event"]["message"].update(subtype="tombstone", text="This message was deleted.")
    msg = norm(env)
    assert msg.kind == "delete" and msg.in_reply_to == f"C043YJGBY49:{env['event']['message']['ts']}"


def test_message_deleted_targets_deleted_ts():
    env = load(HASKELL / "message_deleted.json")
    msg = norm(env)
    assert msg.kind == "delete"
    assert msg.in_reply_to == "C043YJGBY49:1663966382.046509"
    assert msg.in_reply_to == norm(load(HASKELL / "messageExample.json")).external_id
    assert msg.external_id == "C043YJGBY49:1663966382.046509:delete"


def test_file_share_attachment_points_at_private_download():
    msg = norm(load(HASKELL / "message_file_share.json"))
    (att,) = msg.attachments
    assert att.filename == "namenamename.txt" and att.content_type == "text/plain" and att.size == 12
    assert att.url == "https://files.slack.com/files-pri/T043DB835ML-F04EEHX1EES/download/namenamename.txt"
    assert att.placeholder_reason is None


def test_slack_connect_file_stub_needs_files_info():
    env = load(HASKELL / "message_file_share_slack_connect.json")
    assert slack.files_needing_info(env) == ["F12345678"]
    (att,) = norm(env).attachments
    assert att.url is None and "files.info" in att.placeholder_reason
    real = load(CORPUS / "slack" / "slack-web-haskell" / "tests" / "golden" / "FileObject" / "real.json")
    (att,) = norm(env, files={"F12345678": real}).attachments
    assert att.url == real["url_private_download"] and att.placeholder_reason is None


def test_slack_connect_sender_from_other_workspace():
    env = load(HASKELL / "messageExample.json")
    env["is_ext_shared_channel"] = True
    env["event"].update(user="U0EXTERNAL1", team="T0OTHERORG", user_team="T0OTHERORG")
    env["event"]["user_profile"] = {"display_name": "Ext Customer", "real_name": "Ext C", "team": "T0OTHERORG"}
    msg = norm(env)
    assert msg.sender.address == "U0EXTERNAL1"
    assert msg.sender.name == "Ext Customer"
    assert msg.sender.extra == {"team": "T0OTHERORG", "external_team": True}
    assert msg.extra["slack_connect"] is True
    assert slack.channel_selected(("shared",), "C043YJGBY49", "channel", shared=True)
    assert outcome(env, selection=("shared",)) == "message"
    env["is_ext_shared_channel"] = False
    assert outcome(env, selection=("shared",)).startswith("ignored:channel C043YJGBY49 is not selected")


def test_channel_selection():
    env = load(HASKELL / "messageExample.json")
    assert outcome(env, selection=("C043YJGBY49",)) == "message"
    assert outcome(env, selection=("dm",)).startswith("ignored:channel")
    dm = load(HASKELL / "messageIm.json")
    assert outcome(dm, selection=("all",)).startswith("ignored:channel")
    assert outcome(dm, selection=("dm",)) == "message"


def test_app_mention_has_the_same_id_as_its_message_event():
    env = load(HASKELL / "messageExample.json")
    mention = copy.deepcopy(env)
    mention["event"]["type"] = "app_mention"
    mention["event_id"] = "Ev0MENTION"
    a, b = norm(env), norm(mention)
    assert a.external_id == b.external_id  # Slack sends both; the hub stores one
    assert b.extra["mention"] is True


def test_own_bot_by_authorizations_even_without_bot_id():
    env = load(HASKELL / "messageExample.json")
    env["event"]["user"] = env["authorizations"][0]["user_id"]
    assert outcome(env) == "ignored:message from our own bot"


def test_mentions_and_links_resolved():
    env = load(HASKELL / "message_rich_text.json")
    users = {"U043H11ES4V": {"name": "jade"}}
    msg = norm(env, users=users)
    assert "@jade" in msg.text and "<@" not in msg.text
    assert slack.user_ids(env) >= {"U043H11ES4V"}


@pytest.mark.parametrize(
    "mrkdwn, text, html_part",
    [
        ("<https://ex.com/a?b=1&amp;c=2|the docs>", "the docs (https://ex.com/a?b=1&c=2)", '<a href="https://ex.com/a?b=1&amp;c=2"'),
        ("<https://ex.com>", "https://ex.com", ">https://ex.com</a>"),
        ("<mailto:a@b.co|a@b.co>", "a@b.co", 'href="mailto:a@b.co"'),
        ("hi <@U1> and <@U2|old>", "hi @Alice and @old", "@Alice"),
        ("in <#C1|general> / <#C2>", "in #general / #C2", "#general"),
        ("<!here> <!subteam^S1|@ops> <!date^1392734382^{date}|Feb 18>", "@here @ops Feb 18", "@here"),
        ("*bold* _it_ ~del~", "bold it del", "<b>bold</b> <i>it</i> <s>del</s>"),
        ("snake_case_name 2*3*4", "snake_case_name 2*3*4", "snake_case_name 2*3*4"),
        ("`a *b*` ```x\n_y_```", "a *b* x\n_y_", "<code>a *b*</code> <pre>x\n_y_</pre>"),
        ("&lt;script&gt;alert(1)&lt;/script&gt; &amp;", "<script>alert(1)</script> &", "&lt;script&gt;alert(1)&lt;/script&gt; &amp;"),
        ("&gt; quoted\nreply", "> quoted\nreply", "<blockquote>quoted</blockquote><br>reply"),
        ("<javascript:alert(1)|click>", "click (javascript:alert(1))", "click"),
    ],
)
def test_mrkdwn(mrkdwn, text, html_part):
    users = {"U1": {"name": "Alice"}}
    assert slack.mrkdwn_to_text(mrkdwn, users) == text
    html = slack.mrkdwn_to_html(mrkdwn, users)
    assert html_part in html
    assert "<script" not in html and "javascript:" not in html


def test_forwarded_message_keeps_shared_text():
    msg = norm(load(HASKELL / "share_with_message.json"))
    assert msg.text == "hello check that out!"
    assert "Shared message from lev" in msg.full_text and "this will be shared with a message" in msg.full_text


# --- the masked shapes of every event type --------------------------------------------------

MASKED_FILL = {"channel": "C0MASKED01", "user": "U0MASKED01", "ts": "1700000000.000100", "event_ts": "1700000000.000100",
               "deleted_ts": "1699999999.000100", "event_id": "Ev0MASKED01", "team_id": "T0MASKED01", "team": "T0MASKED01"}


def unmask(node, key=None):
    """Fill the empty ids of a masked payload with plausible values (other fields stay as masked)."""
    if isinstance(node, dict):
        return {k: unmask(v, k) for k, v in node.items()}
    if isinstance(node, list):
        return [unmask(v) for v in node]
    if node == "" and key in MASKED_FILL:
        return MASKED_FILL[key]
    return node


MASKED_EXPECTED = {  # after unmask(); anything not listed must be ignored as a non-message event
    "AppMentionPayload.json": "message",
    "MessagePayload.json": "message",  # every field of a message: blocks, attachments, files…
    "MessageBotPayload.json": "ignored:bot message",
    "MessageChangedPayload.json": "ignored:message_changed without a text change (unfurl or thread metadata)",
    "MessageDeletedPayload.json": "delete",
    "MessageFileSharePayload.json": "message",
    "MessageMePayload.json": "message",
    "MessageThreadBroadcastPayload.json": "message",
    "MessageRepliedPayload.json": "ignored:housekeeping message (message_replied)",
    "MessageChannelArchivePayload.json": "ignored:housekeeping message (channel_archive)",
    "MessageChannelJoinPayload.json": "ignored:housekeeping message (channel_join)",
    "MessageChannelLeavePayload.json": "ignored:housekeeping message (channel_leave)",
    "MessageChannelNamePayload.json": "ignored:housekeeping message (channel_name)",
    "MessageChannelPostingPermissionsPayload.json": "ignored:housekeeping message (channel_posting_permissions)",
    "MessageChannelPurposePayload.json": "ignored:housekeeping message (channel_purpose)",
    "MessageChannelTopicPayload.json": "ignored:housekeeping message (channel_topic)",
    "MessageChannelUnarchivePayload.json": "ignored:housekeeping message (channel_unarchive)",
    "MessageEkmAccessDeniedPayload.json": "ignored:housekeeping message (ekm_access_denied)",
    "MessageGroupTopicPayload.json": "ignored:housekeeping message (group_topic)",
}


def masked_files():
    return sorted(MASKED.glob("*.json"))


def test_masked_corpus_present():
    assert len(masked_files()) == 96


@pytest.mark.parametrize("path", masked_files(), ids=lambda p: p.name)
def test_masked_shape_as_masked_never_raises(path):
    # empty ids everywhere: nothing identifiable, so nothing comes out, and nothing raises
    assert slack.normalize(path.read_bytes(), connector="sl") == []


@pytest.mark.parametrize("path", masked_files(), ids=lambda p: p.name)
def test_masked_shape_unmasked(path):
    env = unmask(load(path))
    expected = MASKED_EXPECTED.get(path.name)
    got = outcome(env)
    if expected is None:
        etype = env["event"]["type"]
        assert got == f"ignored:{etype} event"
    else:
        assert got == expected


def test_masked_every_field_message_and_edit():
    env = unmask(load(MASKED / "MessagePayload.json"))
    msg = norm(env)
    assert msg.kind == "message" and msg.external_id == "C0MASKED01:1700000000.000100"
    env["event"]["bot_id"] = "B0SOMEBOT"
    assert outcome(env) == "ignored:bot message"
    changed = unmask(load(MASKED / "MessageChangedPayload.json"))
    changed["event"]["message"]["text"] = "new"
    assert outcome(changed) == "edit"


def test_masked_counts():
    ignored = 0
    messages = 0
    for path in masked_files():
        got = outcome(unmask(load(path)))
        ignored += got.startswith("ignored:")
        messages += got == "message"
    assert (messages, ignored) == (5, 90)


def test_bad_json_is_payload_invalid():
    from hub.errors import PayloadInvalid

    with pytest.raises(PayloadInvalid):
        slack.normalize(b"{not json", connector="sl")
    with pytest.raises(PayloadInvalid):
        slack.normalize(b'{"event": "nope"}', connector="sl")
