"""Every corpus message lands in the CRM as a mail client shows it, on both paths.

Mailbox path: every file is delivered to the sandbox Exchange as received mail, found by an
incremental sync, and tracked in one request through the EWS backend (unmodified
exchangelib over loopback HTTP).  Drop path: the same files are tracked as dropped files in
one request (``Bridge.track_files``), in a second, independent CRM.  Each path runs once per
module; the per-file tests then read the resulting CRM rows.

The expectation is independent of the product: Python's ``email`` parser reading of each
file (``mime_oracle``), with the hand-checked corrections in ``expected.json`` where the
parser itself is wrong.  Outlook files (which Python cannot read) have a hand-checked
expectation in ``tests/data/msg/expected.json``; on the mailbox path they are delivered as
the MIME Outlook would send (``to_rfc822``).
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flow_helpers import USER, crm_get
from mime_oracle import DATA, Expected, ExpectedAttachment, corpus_files, expected_for, norm, signature

from addin.bridge_types import TrackOutcome, TrackResult
from addin.crm import records as r
from addin.demo import DemoEnvironment, start_demo
from addin.engine.keys import normalize_message_id
from addin.engine.msg_file import parse_msg, to_rfc822
from addin.errors import MessageError
from addin.mailbox.types import ChangeKind, FolderKind
from addin.mime import EMPTY_REASON, NO_HEADERS_REASON, parse_bytes

pytestmark = pytest.mark.integration

MSG_DIR = DATA / "msg"
MSG_FILES = sorted(MSG_DIR.glob("*.msg"))
FILES = corpus_files()
ALL = FILES + MSG_FILES
EMPTY = b""
HEADERLESS = b"\x00\xff not mail at all \r\n\r\n\x01"


def label(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


@dataclass(frozen=True)
class Activity:
    activity_id: str
    subject: str
    message_id: str
    parties: frozenset[tuple[int, str]]
    attachments: tuple[tuple[str, str, int | None, bool], ...]
    description: str


@dataclass
class Run:
    env: DemoEnvironment
    results: dict[str, TrackResult]  # per file label
    activities: dict[str, Activity]  # per activity id
    blocked: set[str]
    refusals: dict[str, str]  # EMPTY / HEADERLESS -> reason
    has_attachments: dict[str, bool | None] = field(default_factory=dict)  # the sync's answer per file


def _rows(env: DemoEnvironment, path: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while path:
        page = crm_get(env, path)
        rows += page["value"]
        link = page.get("@odata.nextLink") or ""
        path = link.removeprefix(env.crm.base_url)
    return rows


def _snapshot(env: DemoEnvironment) -> dict[str, Activity]:
    parties: dict[str, set[tuple[int, str]]] = defaultdict(set)
    for row in _rows(env, "activityparties?$select=_activityid_value,participationtypemask,addressused"):
        parties[row["_activityid_value"]].add(
            (row["participationtypemask"], (row["addressused"] or "").lower())
        )
    files: dict[str, list[tuple[str, str, int | None, bool]]] = defaultdict(list)
    query = "activitymimeattachments?$select=_objectid_value,filename,mimetype,filesize,attachmentcontentid"
    for row in _rows(env, query):
        files[row["_objectid_value"]].append(
            (row["filename"], row["mimetype"], row["filesize"], bool(row.get("attachmentcontentid")))
        )
    return {
        row["activityid"]: Activity(
            row["activityid"],
            row["subject"] or "",
            row["messageid"] or "",
            frozenset(parties[row["activityid"]]),
            tuple(sorted(files[row["activityid"]])),
            row["description"] or "",
        )
        for row in _rows(env, "emails?$select=activityid,subject,messageid,description")
    }


def _blocked(env: DemoEnvironment) -> set[str]:
    [org] = crm_get(env, "organizations?$select=blockedattachments")["value"]
    return {e.strip().lower() for e in str(org.get("blockedattachments") or "").split(";") if e.strip()}


def _raw_for_mailbox(path: Path) -> bytes:
    data = path.read_bytes()
    return to_rfc822(parse_msg(data)) if path.suffix == ".msg" else data


@pytest.fixture(scope="module")
def mailbox_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    env = start_demo(tmp_path_factory.mktemp("mailbox-path"))
    try:
        mailbox = env.bridge._mailbox
        inbox = mailbox.folder(FolderKind.INBOX).id
        state = None
        while True:  # catch up with the seeded mailbox first
            page = mailbox.sync(inbox, state)
            state = page.sync_state
            if not page.more:
                break
        ids = env.mail.deliver_many(USER, [_raw_for_mailbox(p) for p in ALL] + [EMPTY, HEADERLESS])
        created: dict[str, bool | None] = {}
        while True:
            page = mailbox.sync(inbox, state)
            state = page.sync_state
            for c in page.changes:
                if c.kind is ChangeKind.CREATED:
                    created[c.id] = c.summary.has_attachments if c.summary else None
            if not page.more:
                break
        assert sorted(created) == sorted(ids), "one sync reports exactly the delivered messages"
        answers = env.bridge.track(ids)
        assert sorted(x.item_id for x in answers) == sorted(ids), "every item gets its own result"
        by_id = {x.item_id: x for x in answers}
        results = [by_id[i] for i in ids]
        by_file = dict(zip(map(label, ALL), results, strict=False))
        refusals = {"empty": results[-2].message, "headerless": results[-1].message}
        assert results[-2].outcome is TrackOutcome.FAILED and results[-1].outcome is TrackOutcome.FAILED
        run = Run(env, by_file, _snapshot(env), _blocked(env), refusals)
        run.has_attachments = {label(p): created[i] for p, i in zip(ALL, ids, strict=False)}
        yield run
    finally:
        env.close()


@pytest.fixture(scope="module")
def drop_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    env = start_demo(tmp_path_factory.mktemp("drop-path"))
    try:
        files = [(p.read_bytes(), p.name) for p in ALL] + [(EMPTY, "empty.eml"), (HEADERLESS, "junk.eml")]
        results = env.bridge.track_files(files)
        assert [x.item_id for x in results] == [name for _, name in files]
        by_file = dict(zip(map(label, ALL), results, strict=False))
        refusals = {"empty": results[-2].message, "headerless": results[-1].message}
        assert results[-2].outcome is TrackOutcome.FAILED and results[-1].outcome is TrackOutcome.FAILED
        yield Run(env, by_file, _snapshot(env), _blocked(env), refusals)
    finally:
        env.close()


def _msg_expected(path: Path) -> Expected:
    spec = json.loads((MSG_DIR / "expected.json").read_text("utf-8"))[path.name]
    return Expected(
        subject=spec["subject"],
        sender=frozenset(spec["from"]),
        to=frozenset(spec["to"]),
        cc=frozenset(spec["cc"]),
        attachments=tuple(
            ExpectedAttachment(a["name"], a["content_type"], a["size"], a["inline"])
            for a in spec["attachments"]
        ),
    )


def expectation(path: Path) -> Expected:
    return _msg_expected(path) if path.suffix == ".msg" else expected_for(path)


def _match(expected: ExpectedAttachment, got: tuple[str, str, int | None, bool]) -> bool:
    name, ctype, size, inline = got
    return (
        (expected.name is None or expected.name == name)
        and expected.content_type == ctype
        and (expected.size is None or expected.size == size)
        and expected.inline == inline
        and size is not None  # a size is always stored, also for an empty file
    )


def _check_activity(run: Run, path: Path, activity: Activity, result: TrackResult) -> None:
    exp = expectation(path)
    assert norm(activity.subject) == norm(exp.subject[:800])
    senders = {a for mask, a in activity.parties if mask == r.PARTY_SENDER}
    if exp.sender:
        assert len(senders) == 1 and senders <= exp.sender, (senders, exp.sender)
    else:
        assert not senders
    assert {a for mask, a in activity.parties if mask == r.PARTY_TO} == exp.to
    assert {a for mask, a in activity.parties if mask == r.PARTY_CC} == exp.cc
    remaining = list(activity.attachments)
    # Named expectations first, so an unnamed one cannot take a named file's place.
    for want in sorted(exp.attachments, key=lambda a: (a.name is None, a.size is None)):
        ext = want.name.rpartition(".")[2].lower() if want.name and "." in want.name else ""
        if ext and ext in run.blocked:
            assert any(want.name in w and "blocked" in w for w in result.warnings), result.warnings
            continue
        hit = next((g for g in remaining if _match(want, g)), None)
        assert hit is not None, f"{want} not among {remaining}"
        remaining.remove(hit)
    assert not remaining, f"attachments the parser does not see: {remaining}"


def _winner(run: Run, path: Path) -> tuple[Activity, Path]:
    """The activity a file's track created or found, and the corpus file that created it."""
    result = run.results[label(path)]
    assert result.outcome in (TrackOutcome.TRACKED, TrackOutcome.ALREADY_TRACKED), result
    assert result.activity_id in run.activities
    creator = next(
        p
        for p in ALL
        if run.results[label(p)].activity_id == result.activity_id
        and run.results[label(p)].outcome is TrackOutcome.TRACKED
    )
    return run.activities[result.activity_id], creator


@functools.cache
def _identity(path: Path) -> tuple[str | None, tuple[object, ...]]:
    raw = _raw_for_mailbox(path)
    return normalize_message_id(str(parse_bytes(raw).get("Message-ID") or "")), signature(raw)


def _same_message(a: Path, b: Path) -> bool:
    """One message: the same Message-ID (RFC 5322 identity) or, without one, what a reader sees."""
    (id_a, sig_a), (id_b, sig_b) = _identity(a), _identity(b)
    if id_a or id_b:
        return id_a == id_b
    return sig_a == sig_b


@pytest.mark.parametrize("path", ALL, ids=label)
def test_mailbox_path_tracks_what_the_parser_reads(mailbox_run: Run, path: Path) -> None:
    activity, creator = _winner(mailbox_run, path)
    assert _same_message(path, creator), f"{label(path)} shares an activity with {label(creator)}"
    _check_activity(mailbox_run, creator, activity, mailbox_run.results[label(creator)])


@pytest.mark.parametrize("path", ALL, ids=label)
def test_sandbox_exchange_answers_has_attachments_as_exchange_does(mailbox_run: Run, path: Path) -> None:
    # Inline pictures do not count; attached files, e-mails and reports do.
    expected = any(not a.inline for a in expectation(path).attachments)
    assert mailbox_run.has_attachments[label(path)] is expected


@pytest.mark.parametrize("path", ALL, ids=label)
def test_drop_path_tracks_what_the_parser_reads(drop_run: Run, path: Path) -> None:
    activity, creator = _winner(drop_run, path)
    assert _same_message(path, creator), f"{label(path)} shares an activity with {label(creator)}"
    _check_activity(drop_run, creator, activity, drop_run.results[label(creator)])


@pytest.mark.parametrize("path", ALL, ids=label)
def test_both_paths_agree(mailbox_run: Run, drop_run: Run, path: Path) -> None:
    via_mailbox, _ = _winner(mailbox_run, path)
    via_drop, _ = _winner(drop_run, path)
    assert via_mailbox.subject == via_drop.subject
    assert via_mailbox.parties == via_drop.parties
    assert via_mailbox.attachments == via_drop.attachments
    assert norm(via_mailbox.description) == norm(via_drop.description)
    assert mailbox_run.results[label(path)].outcome == drop_run.results[label(path)].outcome
    if via_drop.message_id and not via_drop.message_id.startswith("<synthetic-"):
        # Same Message-ID, same activity id: tracking from the mailbox and dropping the file
        # is one activity in a shared CRM.  (Without a Message-ID the server's received time
        # stands in for a missing Date, so only the content can be compared.)
        assert via_mailbox.activity_id == via_drop.activity_id


def test_distinct_messages_never_share_an_activity(mailbox_run: Run, drop_run: Run) -> None:
    for run in (mailbox_run, drop_run):
        by_activity: dict[str, list[Path]] = defaultdict(list)
        for path in ALL:
            by_activity[run.results[label(path)].activity_id or ""].append(path)
        for paths in by_activity.values():
            assert all(_same_message(paths[0], p) for p in paths[1:]), [label(p) for p in paths]
        # ... and the same message, wherever it appears again, is the same activity.
        for i, a in enumerate(ALL):
            for b in ALL[i + 1 :]:
                if _same_message(a, b):
                    assert run.results[label(a)].activity_id == run.results[label(b)].activity_id, (a, b)


def test_empty_and_headerless_input_is_refused_with_the_same_reason_on_both_paths(
    mailbox_run: Run, drop_run: Run
) -> None:
    assert (
        mailbox_run.refusals == drop_run.refusals == {"empty": EMPTY_REASON, "headerless": NO_HEADERS_REASON}
    )
    with pytest.raises(MessageError) as refused:
        drop_run.env.bridge.track_file(EMPTY, "empty.eml")
    assert refused.value.message == EMPTY_REASON
